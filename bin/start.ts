// `npm start`: the whole gateway on this machine (edge + dashboard on 127.0.0.1:8787, session host
// on 127.0.0.1:$PORT, default 8790), with state under data/. Ctrl-C stops everything.
import { startStack, type Stack } from './stack.ts';

export async function runUntilStopped(start: () => Promise<Stack>, banner: (stack: Stack) => string, cleanup?: () => Promise<void>): Promise<void> {
  let stack: Stack;
  try {
    stack = await start();
  } catch (error) {
    console.error(`could not start: ${(error as Error).message}`);
    await cleanup?.();
    process.exit(1);
  }
  console.log(banner(stack));
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log('stopping…');
    await stack.stop();
    await cleanup?.();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  for (const child of [stack.edge, stack.host]) {
    child.on('exit', (code, signal) => {
      if (stopping) return;
      console.error(`${child === stack.edge ? 'edge' : 'session host'} exited (${signal ?? code}); stopping`);
      void stop();
    });
  }
}

const echo = (source: string, text: string) => {
  for (const line of text.split('\n')) if (line.trim()) process.stdout.write(`[${source}] ${line}\n`);
};

if (import.meta.main) {
  await runUntilStopped(
    () => startStack({ hostPort: Number(process.env.PORT ?? 8790), onOutput: echo }),
    (s) => `
WA Gateway is running
  dashboard and API  ${s.edgeUrl}
  session host       ${s.hostUrl}
  admin key          ${s.adminKey}
Press Ctrl-C to stop.`,
  );
}
