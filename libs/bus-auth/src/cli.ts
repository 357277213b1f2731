// bus-creds: the bus's keys, the server's auth config, and each service's credentials.
// Run as `tools/bus-creds <command>` (tsx); see the README, "The bus's credentials".
import { readFile, writeFile } from 'node:fs/promises';
import { parseCreds } from '@nats-io/jwt';
import { Command, InvalidArgumentError } from 'commander';
import { nodeName as nodeNameSchema } from '@splitlet/config';
import { isAuthorityError, loadAuthority, loadOrCreateAuthority, revokeUser, serverAuthConfig, writeSecret } from './authority';
import { mintNodeCreds, mintOperatorCreds, nodeCredsDir } from './mint';
import { isBusServiceName, permissionTableMarkdown, SERVICE_NAMES, type BusServiceName } from './permissions';

const node = (v: string): string => {
  const r = nodeNameSchema.safeParse(v);
  if (!r.success) throw new InvalidArgumentError('must be a lower-case DNS-1123 subdomain');
  return v;
};
const service = (v: string, prev: BusServiceName[] = []): BusServiceName[] => {
  if (!isBusServiceName(v)) throw new InvalidArgumentError(`must be one of ${SERVICE_NAMES.join(', ')}`);
  return [...prev, v];
};

const program = new Command('bus-creds').description("splitlet's NATS identities: operator/account keys, server config, per-service .creds");

program
  .command('init')
  .description('create the operator and account keys in the state dir (once; kept 0600) and write the nats-server auth config')
  .requiredOption('--state <dir>', 'where the keys live')
  .requiredOption('--server-config <file>', 'the nats-server config fragment to write (include it from the server config)')
  .action(async (o: { state: string; serverConfig: string }) => {
    const a = await loadOrCreateAuthority(o.state);
    await writeFile(o.serverConfig, await serverAuthConfig(a));
    process.stdout.write(`${o.serverConfig}: operator ${a.operator.getPublicKey()}, account ${a.account.getPublicKey()}\n`);
  });

program
  .command('mint')
  .description("mint a node's per-service .creds files (0600): a new key each time, so minting again rotates")
  .requiredOption('--state <dir>', 'where the keys live (bus-creds init)')
  .requiredOption('--node <name>', 'the node the identities belong to', node)
  .option('--out <dir>', 'where to write <service>.creds (default <state>/creds/<node>)')
  .option('--service <name>', 'only this service (repeatable; default all)', service)
  .action(async (o: { state: string; node: string; out?: string; service?: BusServiceName[] }) => {
    const a = await loadAuthority(o.state);
    const paths = await mintNodeCreds(a, o.node, o.out ?? nodeCredsDir(o.state, o.node), o.service ?? SERVICE_NAMES);
    for (const [s, p] of Object.entries(paths)) process.stdout.write(`${s}\t${p}\n`);
  });

program
  .command('mint-operator')
  .description("mint an operator's .creds (every subject of the account: for the nats CLI with --inbox-prefix _INBOX_OPERATOR, and the benchmarks)")
  .requiredOption('--state <dir>', 'where the keys live')
  .requiredOption('--out <file>', 'the .creds file to write (0600)')
  .action(async (o: { state: string; out: string }) => {
    await writeSecret(o.out, await mintOperatorCreds(await loadAuthority(o.state)));
    process.stdout.write(`${o.out}\n`);
  });

program
  .command('revoke')
  .description("revoke one identity (its .creds file) and rewrite the server config; then reload nats-server (kill -HUP)")
  .requiredOption('--state <dir>', 'where the keys live')
  .requiredOption('--creds <file>', 'the .creds file to revoke')
  .requiredOption('--server-config <file>', 'the nats-server config fragment to rewrite')
  .action(async (o: { state: string; creds: string; serverConfig: string }) => {
    const a = await loadAuthority(o.state);
    const { uc } = await parseCreds(await readFile(o.creds));
    await revokeUser(a, uc.sub);
    await writeFile(o.serverConfig, await serverAuthConfig(a));
    process.stdout.write(`revoked ${uc.name} (${uc.sub}); reload nats-server to apply: kill -HUP <pid>\n`);
  });

program
  .command('table')
  .description('print the permission table as Markdown (docs/architecture.md holds it)')
  .action(() => {
    process.stdout.write(`${permissionTableMarkdown()}\n`);
  });

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`bus-creds: ${isAuthorityError(err) ? err.message : String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
