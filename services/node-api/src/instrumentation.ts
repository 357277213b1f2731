// Loaded with `node --import` before the service's code, so tracing is on first.
import { startTelemetry } from '@splitlet/telemetry';

startTelemetry({ serviceName: 'node-api' });
