// `npm run demo`: the same local gateway wired to the WhatsApp simulator, so connecting a device,
// scanning its QR code (from the dashboard), sending and receiving all work with no phone and no
// internet. Each run starts fresh under data/demo.
import { rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { WaSim } from '../tests/wa-sim/index.ts';
import { startStack } from './stack.ts';
import { runUntilStopped } from './start.ts';

const dataDir = resolve(import.meta.dirname, '../data/demo');
rmSync(dataDir, { recursive: true, force: true });
mkdirSync(dataDir, { recursive: true });

const sim = await WaSim.start({ port: Number(process.env.SIM_PORT ?? 8791), autoReceipts: 'read', log: (line) => console.log(`[wa-sim] ${line}`) });
const caFile = join(dataDir, 'wa-sim-ca.pem');
writeFileSync(caFile, sim.caCertPem);
// A few people to talk to.
sim.addContact({ phone: '6281234567890', name: 'Budi (simulated)' });
sim.addContact({ phone: '6289876543210', name: 'Siti (simulated)' });

await runUntilStopped(
  () =>
    startStack({
      dataDir,
      hostPort: Number(process.env.PORT ?? 8790),
      hostEnv: { WA_WS_URL: sim.wsUrl, WA_ROOT_KEY: sim.rootPublicKey, NODE_EXTRA_CA_CERTS: caFile, MEDIA_ALLOW_PRIVATE_NETWORKS: 'true' },
      edgeVars: { DEMO_SIM_URL: sim.controlUrl },
      onOutput: (source, text) => {
        for (const line of text.split('\n')) if (line.trim()) process.stdout.write(`[${source}] ${line}\n`);
      },
    }),
  (s) => `
WA Gateway demo is running, wired to the WhatsApp simulator
  dashboard and API  ${s.edgeUrl}
  session host       ${s.hostUrl}
  simulator          ${sim.controlUrl}/api/state
  admin key          ${s.adminKey}
Add a device in the dashboard, connect it and press "Scan with the simulator".
Messages sent to the simulated contacts appear in ${sim.controlUrl}/api/outbox;
make one of them write back with:
  curl -X POST ${sim.controlUrl}/api/incoming -d '{"to":"<device phone>","from":"6281234567890","text":"Halo!"}'
Press Ctrl-C to stop.`,
  () => sim.stop(),
);
