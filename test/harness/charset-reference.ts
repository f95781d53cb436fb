// What pydicom decodes from the text elements of DICOM files (see charset_reference.py): the reference
// for Ferry's character set decoder. pydicom is a required component: a missing one fails the test
// with an install hint, it never skips it.
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'charset_reference.py');
/** Debian's python3 (has pydicom); the first python3 on PATH may not. */
const PYTHON = '/usr/bin/python3';

export interface ReferenceText {
  vr: string;
  values: string[];
}

export interface ReferenceFile {
  file: string;
  /** By path: `GGGGEEEE`, or `tag/item/tag/…` inside sequences (items from 0). */
  elements: Record<string, ReferenceText>;
}

/** pydicom's reading of `files`, or with none, of pydicom's own charset_files (chr*.dcm). */
export function pydicomText(files: string[] = []): Promise<ReferenceFile[]> {
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      [SCRIPT, ...files],
      { timeout: 120_000, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        if (error) {
          reject(
            new Error(
              `pydicom could not read the files (${error.message}); the character set tests need it: ` +
                `apt-get install -y python3-pydicom\n${stderr}`,
            ),
          );
        } else resolve(JSON.parse(stdout) as ReferenceFile[]);
      },
    );
  });
}
