/** Whether a series sampled over time stays flat: the slope of a least-squares line through it. */

export interface Sample {
  /** Seconds since the soak started. */
  atSeconds: number;
  value: number;
}

export interface Trend {
  /** Change per minute of the fitted line (in the series' unit). */
  slopePerMinute: number;
  /** Standard error of that slope: how far noise alone moves it. */
  standardErrorPerMinute: number;
  mean: number;
  samples: number;
}

/** Least-squares fit of value against time; a slope of 0 for fewer than two distinct times. */
export function trend(samples: readonly Sample[]): Trend {
  const n = samples.length;
  if (n === 0) return { slopePerMinute: 0, standardErrorPerMinute: 0, mean: 0, samples: 0 };
  let sumT = 0;
  let sumV = 0;
  for (const s of samples) {
    sumT += s.atSeconds;
    sumV += s.value;
  }
  const meanT = sumT / n;
  const mean = sumV / n;
  let covariance = 0;
  let variance = 0;
  for (const s of samples) {
    covariance += (s.atSeconds - meanT) * (s.value - mean);
    variance += (s.atSeconds - meanT) ** 2;
  }
  const perSecond = variance > 0 ? covariance / variance : 0;
  let residuals = 0;
  for (const s of samples) residuals += (s.value - mean - perSecond * (s.atSeconds - meanT)) ** 2;
  const standardError = n > 2 && variance > 0 ? Math.sqrt(residuals / (n - 2) / variance) : 0;
  return { slopePerMinute: perSecond * 60, standardErrorPerMinute: standardError * 60, mean, samples: n };
}

/** The samples taken at or after `fromSeconds`. */
export function since(samples: readonly Sample[], fromSeconds: number): Sample[] {
  return samples.filter((s) => s.atSeconds >= fromSeconds);
}

/**
 * Flat: the slope is within `bound`, or noise alone could have put it above (a slope less than
 * two standard errors above the bound). Periodic work (versions, folds, other processes on the
 * machine) makes bumps that tilt a short window's line; a real leak or slowdown climbs steadily,
 * with a small standard error, and fails.
 */
export function flat(t: Trend, bound: number): boolean {
  return t.slopePerMinute - 2 * t.standardErrorPerMinute <= bound;
}
