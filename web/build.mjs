// Bundle the page (JsSIP ships CommonJS only) into dist/, which the probe serves over HTTPS.
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');

await mkdir(dist, { recursive: true });
await build({
  entryPoints: [join(here, 'src', 'page.js')],
  outfile: join(dist, 'page.js'),
  bundle: true,
  format: 'iife',
  target: 'chrome110',
  // JsSIP's debug module reads localStorage; a fixed, silent build keeps SIP traffic out of the console.
  define: { 'process.env.NODE_ENV': '"production"' },
  logLevel: 'warning',
});
await copyFile(join(here, 'src', 'index.html'), join(dist, 'index.html'));
