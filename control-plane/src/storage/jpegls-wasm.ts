/**
 * Where the control plane's CharLS .wasm comes from: its npm package, read on the first JPEG-LS frame
 * an image object holds (shared does no I/O, so each program says). Imported for this effect by every
 * module that opens sealed objects.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { provideJpegLsWasm } from '@ferry/shared';

provideJpegLsWasm(() => readFile(createRequire(import.meta.url).resolve('@cornerstonejs/codec-charls/wasm')));
