import { builtinSignatures, loadSignatureFile } from './src/os/fingerprint/index.js';
import { familyOf, readLabelledSyns, verdictOf } from './test/fingerprint/labelled-syns.js';
const rows = readLabelledSyns(); const b = builtinSignatures(); const p = loadSignatureFile('/etc/p0f/p0f.fp');
for (const [i, r] of rows.entries()) {
  const f = familyOf(r.labelOs); if (!f) continue;
  const v = verdictOf(b, r, i); const w = verdictOf(p, r, i); if (!v || !w) continue;
  const bad = (f !== 'Windows') === (v.osClass === 'win') || (f==='Windows' && v.osClass!=='win');
  if ((f !== 'Windows' && v.osClass === 'win') || (f === 'Windows' && v.osClass !== 'win') || v.os==='???') console.log(f, '|', r.detail, '|', v.os, '|', w.os, '|', v.signature);
}
