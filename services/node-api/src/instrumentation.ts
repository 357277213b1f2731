// Loaded with `node --require` before the service's code, so tracing is on first.
import { enableCompileCache } from 'node:module';
import { startTelemetry } from '@splitlet/telemetry';

// V8's compiled code of the bundle kept on disk between starts (NODE_COMPILE_CACHE, else
// <tmpdir>/node-compile-cache; NODE_DISABLE_COMPILE_CACHE=1 turns it off): a restart
// skips parsing and compiling the bundle again (README, "Footprint").
enableCompileCache();

startTelemetry({ serviceName: 'node-api' });
