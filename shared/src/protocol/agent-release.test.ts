import { describe, expect, it } from 'vitest';
import {
  compareReleaseVersions,
  generateReleaseSigningKey,
  releaseVersionFromDirName,
  signRelease,
  verifyReleaseSignature,
} from './agent-release.js';

describe('release versions and signatures', () => {
  it('orders versions numerically, a pre-release before its release', () => {
    const sorted = ['1.10.0', '0.1.0', '1.2.0', '1.2.0-rc.2', '1.2.0-rc.10', '1.9.2'].sort(
      compareReleaseVersions,
    );
    expect(sorted).toEqual(['0.1.0', '1.2.0-rc.2', '1.2.0-rc.10', '1.2.0', '1.9.2', '1.10.0']);
    expect(compareReleaseVersions('0.1.0', '0.1.0')).toBe(0);
  });

  it('reads the version from the release directory name only', () => {
    expect(releaseVersionFromDirName('ferry-agent-0.1.1-upgrade.1-linux-x64/')).toBe('0.1.1-upgrade.1');
    expect(releaseVersionFromDirName('ferry-agent-../x-linux-x64')).toBeUndefined();
    expect(releaseVersionFromDirName('other-0.1.0')).toBeUndefined();
  });

  it('verifies a signature for its version and hash only, and under its key only', () => {
    const k = generateReleaseSigningKey();
    const sha = 'ab'.repeat(32);
    const sig = signRelease(k.privateJwk, '1.0.0', sha);
    expect(verifyReleaseSignature(k.publicJwk, '1.0.0', sha, sig)).toBe(true);
    expect(verifyReleaseSignature(k.publicJwk, '1.0.1', sha, sig)).toBe(false);
    expect(verifyReleaseSignature(k.publicJwk, '1.0.0', 'cd'.repeat(32), sig)).toBe(false);
    expect(verifyReleaseSignature(generateReleaseSigningKey().publicJwk, '1.0.0', sha, sig)).toBe(false);
    expect(verifyReleaseSignature(k.publicJwk, '1.0.0', sha, 'not-a-signature')).toBe(false);
  });
});
