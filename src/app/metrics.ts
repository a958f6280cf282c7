// Prometheus metrics. One registry per app instance so tests and several apps in one process never share counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { KeyMetrics } from '../keys/service.ts';

export class Metrics implements KeyMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'method' | 'route' | 'status'>;
  readonly #latency: Histogram<'method' | 'route' | 'status'>;
  readonly #keyOps: Counter<'operation' | 'key_type' | 'outcome'>;
  readonly #grpcRequests: Counter<'method' | 'code'>;
  readonly #grpcLatency: Histogram<'method' | 'code'>;
  readonly #invalidations: Counter<'kind'>;

  constructor(opts: {
    sealed: () => boolean;
    /** The audit trail's checkpoint counters (absent: not exported). */
    auditCheckpoints?: () => { missed_total: number; missed_consecutive: number };
    /** Whether this instance runs the once-only background jobs (absent: not exported). */
    leader?: () => boolean;
    /** Whether the cache invalidation listener is connected (absent: not exported, one process owns the database). */
    invalidationListening?: () => boolean;
    defaultMetrics?: boolean;
  }) {
    this.#requests = new Counter({
      name: 'keyward_http_requests_total',
      help: 'HTTP requests by route template, method and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.#latency = new Histogram({
      name: 'keyward_http_request_duration_seconds',
      help: 'HTTP request latency by route template, method and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    this.#grpcRequests = new Counter({
      name: 'keyward_grpc_requests_total',
      help: 'gRPC calls by method and status code',
      labelNames: ['method', 'code'],
      registers: [this.registry],
    });
    this.#grpcLatency = new Histogram({
      name: 'keyward_grpc_request_duration_seconds',
      help: 'gRPC call latency by method and status code',
      labelNames: ['method', 'code'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    this.#keyOps = new Counter({
      name: 'keyward_key_operations_total',
      help: 'Key service operations by operation, key type and outcome',
      labelNames: ['operation', 'key_type', 'outcome'],
      registers: [this.registry],
    });
    new Gauge({
      name: 'keyward_sealed',
      help: '1 while Keyward is sealed (or not initialised), 0 when unsealed',
      registers: [this.registry],
      collect() {
        this.set(opts.sealed() ? 1 : 0);
      },
    });
    const checkpoints = opts.auditCheckpoints;
    if (checkpoints) {
      let reported = 0;
      new Counter({
        name: 'keyward_audit_checkpoints_missed_total',
        help: 'Audit checkpoints whose sidecar could not be written (truncation of the log tail goes undetected until one is)',
        registers: [this.registry],
        collect() {
          const now = checkpoints().missed_total;
          if (now > reported) this.inc(now - reported);
          reported = now;
        },
      });
      new Gauge({
        name: 'keyward_audit_checkpoints_missed_consecutive',
        help: 'Audit checkpoints missed since the last one written; at audit.max_missed_checkpoints operations are refused',
        registers: [this.registry],
        collect() {
          this.set(checkpoints().missed_consecutive);
        },
      });
    }
    const leader = opts.leader;
    if (leader) {
      new Gauge({
        name: 'keyward_leader',
        help: '1 while this instance holds the lease that runs the once-only background jobs (release sweeper, grant sweep)',
        registers: [this.registry],
        collect() {
          this.set(leader() ? 1 : 0);
        },
      });
    }
    const listening = opts.invalidationListening;
    if (listening) {
      new Gauge({
        name: 'keyward_cache_invalidation_listening',
        help: '1 while the cache invalidation listener is connected; 0: other instances\' changes show within keys.cache_ttl',
        registers: [this.registry],
        collect() {
          this.set(listening() ? 1 : 0);
        },
      });
    }
    this.#invalidations = new Counter({
      name: 'keyward_cache_invalidations_received_total',
      help: 'Changes announced by other instances or the CLI and applied to this instance\'s caches, by kind (all: after a reconnect)',
      labelNames: ['kind'],
      registers: [this.registry],
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'keyward_' });
  }

  // Label children are cached: prom-client hashes the label set on every call otherwise, on the hot path.
  readonly #httpChildren = new Map<string, { count: { inc(): void }; latency: { observe(v: number): void } }>();
  readonly #keyOpChildren = new Map<string, { inc(): void }>();

  httpRequest(method: string, route: string, status: number, seconds: number): void {
    const k = `${method} ${route} ${status}`;
    let c = this.#httpChildren.get(k);
    if (!c) {
      const labels = { method, route, status: String(status) };
      c = { count: this.#requests.labels(labels), latency: this.#latency.labels(labels) };
      this.#httpChildren.set(k, c);
    }
    c.count.inc();
    c.latency.observe(seconds);
  }

  grpcRequest(method: string, code: string, seconds: number): void {
    const k = `grpc ${method} ${code}`;
    let c = this.#httpChildren.get(k);
    if (!c) {
      const labels = { method, code };
      c = { count: this.#grpcRequests.labels(labels), latency: this.#grpcLatency.labels(labels) };
      this.#httpChildren.set(k, c);
    }
    c.count.inc();
    c.latency.observe(seconds);
  }

  invalidationReceived(kind: 'key' | 'realm' | 'all'): void {
    this.#invalidations.labels({ kind }).inc();
  }

  keyOperation(operation: string, keyType: string, outcome: 'success' | 'denied' | 'error'): void {
    const k = `${operation} ${keyType} ${outcome}`;
    let c = this.#keyOpChildren.get(k);
    if (!c) {
      c = this.#keyOps.labels({ operation, key_type: keyType, outcome });
      this.#keyOpChildren.set(k, c);
    }
    c.inc();
  }
}
