export { BUILTIN_SIGNATURES, builtinSignatures, loadSignatureFile } from './builtin.js';
export { type EngineCounts, SynEngine } from './engine.js';
export { classifySyn, probeOf, rawSignature, type SynVerdict, UNKNOWN_OS } from './fingerprint.js';
export {
  parseSignatureFile,
  parseTcpSignature,
  type SignatureDatabase,
  SignatureFileError,
} from './fp-file.js';
export { ja4t } from './ja4t.js';
export { detectWindowMultiple, findMatch, guessDistance, MAX_DIST, type MatchResult } from './match.js';
export { formatLayout, TcpOption } from './options.js';
export {
  isSyn,
  type ParseResult,
  parseIpPacket,
  type SkipReason,
  TcpFlag,
  type TcpPacket,
} from './packet.js';
export {
  type FrameSkip,
  LinkType,
  locateIp,
  PcapFormatError,
  type PcapFrame,
  type PcapHeader,
  PcapStreamReader,
  parsePcapHeader,
} from './pcap.js';
export { formatQuirks, Quirk } from './quirks.js';
export type { SignatureProbe, SignatureRecord, TcpSignature, WindowType } from './signature.js';
