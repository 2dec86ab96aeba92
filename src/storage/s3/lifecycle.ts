/** Pure helpers of `ftpfleet s3`: ages on the command line, and the bucket lifecycle rule. */

/** "90s", "30m", "12h", "2d" or plain seconds -> milliseconds; null if malformed. */
export function parseAge(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)?$/.exec(text.trim());
  if (!m) return null;
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit * 1000;
}

/** The lifecycle configuration that aborts multipart uploads `days` after they started. */
export function abortIncompleteUploadsRule(prefix: string, days: number) {
  return {
    Rules: [
      {
        ID: 'ftpfleet-abort-incomplete-multipart-uploads',
        Status: 'Enabled',
        Filter: { Prefix: prefix },
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: days },
      },
    ],
  };
}
