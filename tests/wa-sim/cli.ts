// `npm run sim`: the WhatsApp simulator on its own, with its HTTP control API.
//
//   SIM_PORT      port for the WhatsApp WebSocket and the control API (default 8791)
//   SIM_DATA_DIR  where the root key and TLS certificate are kept between runs (default data/wa-sim)
//   SIM_IDLE_DEVICES=1  the lighter mode for many idle devices (see WaSim.idleDevices)
//
// Point a session host at it with the printed WA_WS_URL, WA_ROOT_KEY and NODE_EXTRA_CA_CERTS.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { makeNoiseIdentity, makeTlsIdentity, parseIdentities, serializeIdentities } from './certs.ts';
import { WaSim } from './sim.ts';

const port = Number(process.env.SIM_PORT ?? 8791);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`SIM_PORT must be a port number, got ${process.env.SIM_PORT}`);
  process.exit(1);
}
const dataDir = resolve(process.env.SIM_DATA_DIR ?? 'data/wa-sim');
mkdirSync(dataDir, { recursive: true });
const identityFile = join(dataDir, 'identity.json');
const identities = existsSync(identityFile) ? parseIdentities(readFileSync(identityFile, 'utf8')) : { noise: makeNoiseIdentity(), tls: await makeTlsIdentity() };
writeFileSync(identityFile, serializeIdentities(identities.noise, identities.tls), { mode: 0o600 });
const caFile = join(dataDir, 'ca.pem');
writeFileSync(caFile, identities.tls.cert);

const sim = await WaSim.start({ port, identity: identities.noise, tls: identities.tls, autoReceipts: 'delivery', idleDevices: process.env.SIM_IDLE_DEVICES === '1' });
console.log(`WhatsApp simulator listening
  WA_WS_URL=${sim.wsUrl}
  WA_ROOT_KEY=${sim.rootPublicKey}
  NODE_EXTRA_CA_CERTS=${caFile}
  control API: ${sim.controlUrl}/api/state`);

const stop = async () => {
  await sim.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
