export type { CloudStackClientOptions, CloudStackLogger, Params, ParamValue } from './client.js';
export { CloudStackClient } from './client.js';
export type { CloudStackConfig } from './config.js';
export {
  CLOUDSTACK_DEFAULTS,
  CLOUDSTACK_ENV,
  cloudStackClientConfig,
  cloudStackConfigFromEnv,
} from './config.js';
export type { CloudStackApiErrorDetails, CloudStackErrorCode } from './errors.js';
export { CloudStackApiError, CloudStackConfigError } from './errors.js';
export type { FetchInventoryOptions, RawInventory, SkippedItem } from './inventory.js';
export {
  buildInventory,
  fetchInventory,
  ISOLATION_HIDDEN_REASON,
  mapNetwork,
  mapPublicIp,
  mapVirtualMachineNics,
  mapZone,
  missingIsolationReason,
  parseIsolation,
  parseUserDataDetails,
} from './inventory.js';
export type {
  RawAsyncJob,
  RawErrorBody,
  RawListBody,
  RawNetwork,
  RawNic,
  RawProvider,
  RawPublicIp,
  RawService,
  RawSshKeyPair,
  RawTag,
  RawVirtualMachine,
  RawVirtualMachineUserData,
  RawZone,
} from './messages.js';
export type { CloudStackMetrics } from './metrics.js';
export { cloudStackMetrics } from './metrics.js';
export type { DecodedResponse } from './parser.js';
export { apiErrorFromBody, decodeResponseText, ResponseDecoder, responseKeyFor } from './parser.js';
export { serializeErrorResponse, serializeListResponse } from './serializer.js';
export { buildSignedQuery, encodeParamValue, formatExpires, signRequest, stringToSign } from './signing.js';
export type { DeployOptions, DeployProgress } from './vm.js';
export { deployVirtualMachine, fetchSshKeyPairs, fetchUserData } from './vm.js';
