// npm here cannot resolve other platforms' optional binaries (the registry mirror serves only
// this platform's), so it leaves them out of package-lock.json and `npm ci` then refuses the
// lock. Run after every `npm install`: node .ci/patch-lockfile.mjs package-lock.json
import fs from 'node:fs';
const file = process.argv[2];
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
const pkgs = lock.packages;
let added = 0;
const platform = (name) => {
  const n = name.split('/').pop();
  const os = ['darwin', 'win32', 'linux', 'android', 'freebsd', 'openbsd', 'netbsd', 'sunos', 'aix', 'openharmony'].find((o) => n.includes(o));
  const cpu = ['arm64', 'x64', 'ia32', 'arm', 'loong64', 'ppc64', 'riscv64', 's390x', 'mips64el', 'wasm32'].find((c) => n.includes(c));
  return { os, cpu, libc: n.includes('musl') ? 'musl' : n.includes('gnu') ? 'glibc' : undefined };
};
for (const [path, meta] of Object.entries(pkgs)) {
  for (const [dep, spec] of Object.entries(meta.optionalDependencies ?? {})) {
    const base = path ? `${path}/node_modules/` : 'node_modules/';
    if (pkgs[`${base}${dep}`] || pkgs[`node_modules/${dep}`]) continue;
    const p = platform(dep);
    if (!p.os && !p.cpu) continue;
    pkgs[`node_modules/${dep}`] = { version: spec.replace(/^[\^~]/, ''), optional: true, ...(p.os ? { os: [p.os] } : {}), ...(p.cpu ? { cpu: [p.cpu] } : {}), ...(p.libc ? { libc: [p.libc] } : {}) };
    added++;
  }
}
fs.writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
console.log(`added ${added} platform entries`);
