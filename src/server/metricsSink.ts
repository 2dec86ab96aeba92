/** What the server reports for metrics; ops/metrics.ts implements it for Prometheus. */
export type DataFailureCause =
  | 'accept_timeout'
  | 'peer_mismatch'
  | 'port_exhaustion'
  | 'tls_reuse_refused'
  | 'proxy_error'
  | 'active_connect_refused';

export interface MetricsSink {
  sessionOpened(): void;
  connectionRefused(reason: string): void;
  login(ok: boolean): void;
  transfer(direction: 'upload' | 'download', mode: 'passive' | 'active', result: 'ok' | 'aborted' | 'failed', bytes: number): void;
  dataFailure(cause: DataFailureCause): void;
  reply(code: number): void;
}
