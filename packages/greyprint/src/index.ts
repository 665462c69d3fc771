export {
  type AllowEntry,
  type AllowKind,
  AllowList,
  AllowListError,
  parseAllowLine,
  parseAllowText,
} from './allow/allowlist.js';
export { addAllowEntry, loadAllowList, removeAllowEntry } from './allow/files.js';
export { CheckError, sendPolicyRequest } from './cli/client.js';
export { ConfigError, loadConfig, mergeConfig, parseConfig } from './config/load.js';
export {
  type Config,
  type ConfigInput,
  configSchema,
  DEFAULT_DYNAMIC_PATTERNS,
  DEFAULT_RULES,
  type Rule,
  type RuleCondition,
} from './config/schema.js';
export { type Daemon, type DaemonDeps, startDaemon } from './daemon.js';
export { createLogger } from './log.js';
export { Metrics } from './metrics.js';
export { CidrError, CidrTable, cidrContains, networkOf, parseAddress, parseCidr } from './net/cidr.js';
export { createOsSource, lookupWithin, OsChain, type OsResolution } from './os/factory.js';
export type { OsLabel, OsSource } from './os/label.js';
export { formatOsLabel, OsLabelError, parseOsLabel } from './os/parse-label.js';
export { parseStaticEntry, StaticEntryError, StaticOsSource } from './os/static.js';
export {
  type Decision,
  DUNNO,
  decide,
  type PolicyDeps,
  type PolicyState,
  StoreFault,
  type Verdict,
} from './policy/decide.js';
export { registeredDomain } from './policy/domain.js';
export { type GreylistOptions, type GreylistOutcome, greylist } from './policy/greylist.js';
export { osHeaderAction, REPLY_TEXT_MAX, sanitizeHeaderValue, sanitizeReplyText } from './policy/header.js';
export { normalizeRecipient, normalizeSender } from './policy/normalize.js';
export { anyMatcher, compilePattern, PatternError } from './policy/patterns.js';
export {
  type ClientFacts,
  compileDynamicPatterns,
  compileRules,
  type DerivedFacts,
  deriveFacts,
  type RuleSet,
} from './policy/rules.js';
export { clientKey, formatTriplet, tripletKey } from './policy/triplet.js';
export {
  DEFAULT_LIMITS,
  type ParsedMessage,
  type ParserLimits,
  type PolicyReply,
  type PolicyRequest,
  PolicyRequestError,
  type PolicyRequestErrorCode,
} from './protocol/messages.js';
export { PolicyParser, PolicyReplyParser } from './protocol/parser.js';
export { serializeReply, serializeRequest } from './protocol/serializer.js';
export { openStore, type StoreOptions } from './store/factory.js';
export { MemoryStore } from './store/memory.js';
export type * from './store/types.js';
export { AUTO_ALLOWED } from './store/types.js';
