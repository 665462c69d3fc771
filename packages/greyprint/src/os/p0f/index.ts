export { LabelCache } from './cache.js';
export { P0fConnection } from './connection.js';
export { P0fAddressError, type P0fFailureReason, P0fLookupError, P0fProtocolError } from './errors.js';
export { classForOsName, labelFromResponse } from './label-map.js';
export * from './messages.js';
export { P0fResponseParser, parseResponseFrame } from './parser.js';
export { P0fPool, type P0fPoolOptions } from './pool.js';
export { queryForAddress, serializeQuery, serializeResponse } from './serializer.js';
export { type P0fLogger, P0fSource, type P0fSourceOptions, type P0fSourceStats } from './source.js';
