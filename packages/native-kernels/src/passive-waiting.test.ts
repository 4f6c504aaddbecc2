import { describe, expect, it } from 'vitest';
import { passiveOpenMpWaiting } from './addon.js';

describe('OpenMP waiting policy', () => {
  it('defaults to passive waiting, so processes sharing cores do not spin against each other', () => {
    const env: NodeJS.ProcessEnv = {};
    passiveOpenMpWaiting(env);
    expect(env.OMP_WAIT_POLICY).toBe('passive');
  });

  it("keeps the user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT", () => {
    const active: NodeJS.ProcessEnv = { OMP_WAIT_POLICY: 'active' };
    passiveOpenMpWaiting(active);
    expect(active.OMP_WAIT_POLICY).toBe('active');
    const spin: NodeJS.ProcessEnv = { GOMP_SPINCOUNT: '1000' };
    passiveOpenMpWaiting(spin);
    expect(spin).toEqual({ GOMP_SPINCOUNT: '1000' });
  });
});
