export { createNulKernel, type NulKernel } from './core/nul-kernel.js';
export { DEFAULT_OPTIONS, type DenulOptions, parseByteSize, validateOptions } from './core/options.js';
export { type FileOutcome, formatOutcome, formatTotal, outcomeJson } from './core/report.js';
export { createNulState, type NulMode, type NulState } from './core/state.js';
export {
  canSkipZeros,
  countChunk,
  DENSE_AFTER_RUNS,
  hasRemovals,
  JS_ONLY,
  nothingMoreToRemove,
  type StripEngine,
  type StripStrategy,
  skipZeros,
  stripChunk,
} from './core/strip.js';
export { zeroRunEnd } from './core/zero-run.js';
export { BrokenPipeError, type DenulErrorCode, DenulFileError, InterruptedError } from './io/errors.js';
export { type HoleSeeker, loadHoleSeeker, mayHaveHoles } from './io/holes.js';
export { cleanInPlace, type InPlaceOptions, type InPlaceReport } from './io/in-place.js';
export { type RunEnvironment, runDenul } from './io/run.js';
export { main } from './main.js';
