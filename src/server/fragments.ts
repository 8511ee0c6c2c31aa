/**
 * A large message as WebSocket fragments: the text of `pieces` in order, cut into runs of at most
 * `size` UTF-16 code units (small pieces are joined). A cut never falls between the two halves of
 * a surrogate pair, which would turn the character into two replacement characters.
 */
export function* fragments(pieces: Iterable<string>, size: number): Generator<string> {
  let pending = '';
  for (const piece of pieces) {
    let start = 0;
    // Stryker disable next-line EqualityOperator: a run of exactly `size` left pending goes out whole before the next piece's text (end <= start below) or at the end: the same fragments
    while (piece.length - start + pending.length >= size) {
      let end = start + size - pending.length;
      if (isHighSurrogate(piece.charCodeAt(end - 1))) end--;
      if (end <= start) {
        if (pending.length > 0) {
          // `pending` already fills the fragment (or ends right before a pair).
          yield pending;
          pending = '';
          continue;
        }
        end = start + 2; // size 1 cannot hold a pair: send it whole
      }
      yield pending + piece.slice(start, end);
      pending = '';
      start = end;
    }
    pending += piece.slice(start);
  }
  if (pending.length > 0) yield pending;
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;
