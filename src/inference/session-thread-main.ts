/**
 * Entry of a session thread (see session-thread.ts): creates one onnxruntime session and runs it on request.
 * Messages in: {id, feeds}; out: {id, outputs} or {id, error}. The first message out says whether creation worked.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { PlainTensor, SessionThreadInit, ThreadReply, ThreadRequest } from './session-thread';

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('session-thread-main runs only as a worker thread');
  const { file, options } = workerData as SessionThreadInit;
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(file, options);
  } catch (e) {
    port.postMessage({ id: 0, error: (e as Error).message } satisfies ThreadReply);
    return;
  }
  port.postMessage({ id: 0, inputNames: [...session.inputNames], outputNames: [...session.outputNames] } satisfies ThreadReply);
  port.on('message', (msg: ThreadRequest) => {
    if (msg.release) {
      void session.release().finally(() => port.close());
      return;
    }
    // The inputs go back with the answer (moved, not copied), so the caller reuses them instead of this thread's
    // garbage collector holding on to them.
    const inputs = Object.values(msg.feeds ?? {}).map((t) => t.data.buffer as ArrayBuffer);
    void run(session, msg).then((reply) => port.postMessage({ ...reply, inputs: msg.feeds }, inputs));
  });
}

async function run(session: ort.InferenceSession, msg: ThreadRequest): Promise<ThreadReply> {
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(msg.feeds ?? {})) feeds[name] = new ort.Tensor('float32', t.data, t.dims);
    const out = await session.run(feeds);
    const outputs: Record<string, PlainTensor> = {};
    for (const [name, t] of Object.entries(out)) {
      // Copied out (the tensor's memory belongs to onnxruntime), then the tensor is released.
      outputs[name] = { data: Float32Array.from(t.data as Float32Array), dims: t.dims.map(Number) };
      t.dispose();
    }
    return { id: msg.id, outputs };
  } catch (e) {
    return { id: msg.id, error: (e as Error).message };
  }
}

void main();
