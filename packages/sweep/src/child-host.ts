/**
 * The embedded queue's child process: it receives jobs over IPC and runs them with the same
 * processor BullMQ's sandbox runs, one at a time.
 */
import processSweepJob from './processor.js';
import type { SweepJobData } from './job.js';

export type HostRequest = { readonly type: 'run'; readonly id: string; readonly attempt: number; readonly data: SweepJobData };
export type HostReply =
  | { readonly type: 'ready' }
  | { readonly type: 'progress'; readonly id: string; readonly value: { step: number; total_steps: number } }
  | { readonly type: 'done'; readonly id: string; readonly value: unknown }
  | { readonly type: 'failed'; readonly id: string; readonly error: string };

const send = (reply: HostReply) => new Promise<void>((resolve) => process.send?.(reply, () => resolve()));

process.on('message', (message: HostRequest) => {
  if (message?.type !== 'run') return;
  void (async () => {
    try {
      const value = await processSweepJob({
        id: message.id,
        data: message.data,
        attemptsStarted: message.attempt,
        updateProgress: (p) => send({ type: 'progress', id: message.id, value: p as { step: number; total_steps: number } }),
      });
      await send({ type: 'done', id: message.id, value });
    } catch (error) {
      await send({ type: 'failed', id: message.id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
    }
  })();
});
void send({ type: 'ready' });
