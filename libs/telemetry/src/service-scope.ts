import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Which service the running code belongs to, when several share one process (the
 * all-in-one node, `SPLITLET_NODE_MODE=single`): libs/service runs each service's
 * start-up inside `inServiceScope(name, …)`, and everything it starts (its NATS
 * connection's callbacks, its loops, its timers) carries the name. Spans started by
 * shared code (@splitlet/bus's producer and consumer spans) take the service's
 * `service.name` from it. Process-wide (on globalThis): the instrumentation bundle,
 * which starts the SDK, and the main bundle each have their own copy of this module.
 */
const SCOPE = Symbol.for('splitlet.telemetry.serviceScope');
const slot = globalThis as { [SCOPE]?: AsyncLocalStorage<string> };
const scope = (slot[SCOPE] ??= new AsyncLocalStorage<string>());

/** Runs fn, and all it starts, as service `name`'s code. */
export const inServiceScope = <T>(name: string, fn: () => T): T => scope.run(name, fn);

/** The service the running code belongs to, if it runs inside inServiceScope. */
export const currentService = (): string | undefined => scope.getStore();
