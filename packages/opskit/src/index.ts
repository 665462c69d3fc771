export { type AtomicWriteOptions, writeFileAtomic } from './atomic-write.js';
export { createProgram, type ProgramInfo, packageVersion, runProgram, withExamples } from './cli.js';
export {
  changedRestartOnlyKeys,
  configErrorFromZod,
  formatKeyPath,
  isPlainObject,
  keysAt,
  loadLayeredConfig,
  mergeLayers,
  type PlainObject,
  parseConfig,
  readJsonConfigFile,
  schemaDefaults,
} from './config.js';
export { ConfigError, EXIT, type ExitCode, exitCodeOf, UsageError } from './exit.js';
export {
  type HttpEndpoint,
  metricsRoute,
  parseHostPort,
  type RouteAnswer,
  type RouteHandler,
  startHttpEndpoint,
} from './http.js';
export {
  createLogger,
  isoTimeCached,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LoggerSettings,
  type LogLevel,
  resolveLogFormat,
} from './log.js';
