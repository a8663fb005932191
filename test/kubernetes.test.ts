// deploy/kubernetes: every manifest is validated against the Kubernetes API schemas (the
// kubernetes-models package: one validator per apiVersion/kind, generated from the Kubernetes
// OpenAPI spec, offline), checked for unknown fields (its TypeScript declarations, through the
// compiler's excess-property check), and held to the promises the stack makes: a headless Service
// the proxy discovers the CPU pool through, probes on /health and /ready, whisper.cpp threads
// within the CPUs granted, a GPU request on GPU nodes, a models volume a Job fills, and an
// autoscaler (optional components: an HPA through prometheus-adapter, or KEDA) on a metric the
// services export and Prometheus scrapes.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CAPACITY } from '../stt/core/src/engine/capacity.js';
import { createMetrics } from '../stt/core/src/metrics.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = join(root, 'deploy', 'kubernetes');
const require = createRequire(import.meta.url);

// Manifests are checked field by field.
type Doc = any;
interface Manifest {
  /** file#index, for messages. */
  where: string;
  file: string;
  doc: Doc;
}

function yamlFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? yamlFiles(join(folder, e.name)) : /\.ya?ml$/.test(e.name) ? [join(folder, e.name)] : []))
    .sort();
}

const files = yamlFiles(dir).map((f) => relative(dir, f));
const KUSTOMIZATION = 'kustomization.yaml';
/** kustomize's own files (the stack's Kustomization, the optional Components), and Helm values: not API objects. */
const notObjects = (f: string) => basename(f) === KUSTOMIZATION || f.endsWith('-values.yaml');
/** Add-ons' custom resources: kubernetes-models has no schema for them; checked field by field below. */
const CUSTOM_KINDS = ['keda.sh/v1alpha1 ScaledObject'];
const documents: Manifest[] = files
  .filter((f) => !notObjects(f))
  .flatMap((file) =>
    parseAllDocuments(readFileSync(join(dir, file), 'utf8')).flatMap((d, i) => {
      if (d.errors.length) throw new Error(`${file}#${i}: ${d.errors.map((e) => e.message).join('; ')}`);
      const doc = d.toJS();
      return doc == null ? [] : [{ where: `${file}#${i}`, file, doc }];
    }),
  );
const isCustom = (m: Manifest) => CUSTOM_KINDS.includes(`${m.doc.apiVersion} ${m.doc.kind}`);
const manifests = documents.filter((m) => !isCustom(m));
const customResources = documents.filter(isCustom);
const readYaml = (path: string): Doc => parse(readFileSync(join(dir, path), 'utf8'));
const kustomization: Doc = readYaml(KUSTOMIZATION);

/** The kubernetes-models class for an apiVersion/kind; throws for a kind it has no schema for. */
function modelFor(apiVersion: unknown, kind: unknown): { new (data: Doc): { validate(): void }; kind: string; apiVersion: string } {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion) || !/^[A-Z][A-Za-z0-9]*$/.test(kind)) {
    throw new Error(`not a Kubernetes object: apiVersion ${String(apiVersion)}, kind ${String(kind)}`);
  }
  let mod: Doc;
  try {
    mod = require(`kubernetes-models/${apiVersion}/${kind}`);
  } catch {
    throw new Error(`unknown kind: no Kubernetes schema for ${apiVersion} ${kind}`);
  }
  const model = mod[kind];
  // Sub-schemas (DeploymentSpec, ...) have modules too, but no apiVersion/kind of their own.
  if (!model || model.kind !== kind || model.apiVersion !== apiVersion) throw new Error(`unknown kind: ${apiVersion} ${kind} is not a top-level API object`);
  return model;
}

function validationErrors(doc: Doc): string | undefined {
  try {
    new (modelFor(doc?.apiVersion, doc?.kind))(doc).validate();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * Unknown fields: the JSON schemas let them through (as the API server's own OpenAPI does), so a
 * typo such as `readinesProbe` would validate and then be dropped by the cluster. The package's
 * TypeScript declarations name every field; each document becomes an object literal typed as its
 * kind's interface, and the compiler reports any property the interface does not have.
 */
function unknownFieldErrors(docs: { where: string; doc: Doc }[]): string[] {
  const sources = new Map<string, string>();
  const whereOf = new Map<string, string>();
  docs.forEach(({ where, doc }, i) => {
    const name = join(root, '__k8s_typecheck__', `doc${i}.ts`);
    sources.set(name, `import type { I${doc.kind} as T } from 'kubernetes-models/${doc.apiVersion}/${doc.kind}';\nexport const doc: T = ${JSON.stringify(doc, null, 1)};\n`);
    whereOf.set(name, where);
  });
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, language, ...rest) => (sources.has(name) ? ts.createSourceFile(name, sources.get(name)!, language) : getSourceFile.call(host, name, language, ...rest));
  host.fileExists = (name) => sources.has(name) || fileExists.call(host, name);
  host.readFile = (name) => sources.get(name) ?? readFile.call(host, name);
  const program = ts.createProgram([...sources.keys()], options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${(d.file && whereOf.get(d.file.fileName)) ?? d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

const objects = (kind: string) => manifests.filter((m) => m.doc.kind === kind).map((m) => m.doc);
const named = (kind: string, name: string): Doc => {
  const found = objects(kind).filter((o) => o.metadata?.name === name);
  expect(found, `${kind} ${name}`).toHaveLength(1);
  return found[0];
};
const podSpec = (workload: Doc): Doc => workload.spec.template.spec;
const allContainers = (workload: Doc): Doc[] => [...(podSpec(workload).initContainers ?? []), ...podSpec(workload).containers];
const workloads = () => [...objects('Deployment'), ...objects('Job')];
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
const env = (container: Doc, name: string): Doc => (container.env ?? []).find((e: Doc) => e.name === name);

/** Kubernetes CPU quantities: "2", 2, "1500m". */
function cpus(quantity: unknown): number {
  const text = String(quantity);
  const m = /^([0-9]+(?:\.[0-9]+)?)(m?)$/.exec(text);
  if (!m) throw new Error(`not a CPU quantity: ${text}`);
  return m[2] ? Number(m[1]) / 1000 : Number(m[1]);
}

/** A container's env value as the kubelet resolves it: literals, ConfigMap keys, the namespace, $(VAR). */
function resolvedEnv(container: Doc, name: string): string | undefined {
  const values = new Map<string, string>();
  for (const e of container.env ?? []) {
    let value: string | undefined;
    if (typeof e.value === 'string') value = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all: string, v: string) => values.get(v) ?? all);
    else if (e.valueFrom?.configMapKeyRef) value = named('ConfigMap', e.valueFrom.configMapKeyRef.name).data?.[e.valueFrom.configMapKeyRef.key];
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') value = kustomization.namespace;
    if (value !== undefined) values.set(e.name, value);
  }
  return values.get(name);
}

/** $(VAR) in command and args, as the kubelet expands them from the container's env. */
const expandedCommand = (container: Doc): string[] =>
  [...(container.command ?? []), ...(container.args ?? [])].map((a: string) => a.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, v) => resolvedEnv(container, v) ?? all));

/** The containers that run whisper.cpp: the cpu, gpu and tiny services. */
const whisperContainers = () =>
  objects('Deployment').flatMap((d) => podSpec(d).containers.filter((c: Doc) => (c.command ?? []).some((a: string) => /stt\/(cpu|gpu|tiny)_ws\/src\/main\.ts$/.test(a))).map((c: Doc) => ({ deployment: d, container: c })));

describe('deploy/kubernetes: schemas', () => {
  it('has the manifests, each document an API object', () => {
    expect(files).toContain(KUSTOMIZATION);
    expect(manifests.length).toBeGreaterThanOrEqual(15);
    for (const { where, doc } of manifests) {
      expect(typeof doc.apiVersion, where).toBe('string');
      expect(typeof doc.kind, where).toBe('string');
      expect(doc.metadata?.name, where).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
  });

  it('validates every document against the Kubernetes schema of its apiVersion/kind', () => {
    const failures = manifests.map(({ where, doc }) => [where, validationErrors(doc)]).filter(([, e]) => e !== undefined);
    expect(failures).toEqual([]);
    // The check has teeth: a wrong type, a missing required field, an unknown kind.
    expect(validationErrors({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { replicas: 'three', template: {} } })).toMatch(/selector.*replicas must be integer|replicas must be integer/s);
    expect(validationErrors({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' }, spec: { ports: [{ port: 'http' }] } })).toMatch(/port must be integer/);
    expect(validationErrors({ apiVersion: 'apps/v1', kind: 'Deploymnt', metadata: { name: 'x' } })).toMatch(/unknown kind/);
    expect(validationErrors({ apiVersion: 'apps/v1', kind: 'DeploymentSpec', metadata: { name: 'x' } })).toMatch(/unknown kind/);
    expect(validationErrors({ apiVersion: 'extensions/v1beta1', kind: 'Ingres' })).toMatch(/unknown kind/);
  });

  it('uses no field the API does not have', () => {
    // The compiler stops at the first wrong property of a document, so each plant gets its own.
    const typoContainer = structuredClone(named('Deployment', 'stt-cpu-ws'));
    typoContainer.spec.template.spec.containers[0].readinesProbe = { httpGet: { path: '/ready', port: 8001 } };
    const typoPod = structuredClone(named('Deployment', 'stt-gpu-ws'));
    typoPod.spec.template.spec.nodeSelectr = {};
    const wrongType = structuredClone(named('Service', 'stt-cpu-ws-headless'));
    wrongType.spec.clusterIP = null;
    const errors = unknownFieldErrors([
      ...manifests,
      { where: 'typoContainer', doc: typoContainer },
      { where: 'typoPod', doc: typoPod },
      { where: 'wrongType', doc: wrongType },
    ]);
    // Every manifest passes; each plant is caught, and named.
    expect(errors.filter((e) => !/^(typoContainer|typoPod|wrongType):/.test(e))).toEqual([]);
    expect(errors.join('\n')).toMatch(/typoContainer: .*'"?readinesProbe"?' does not exist in type 'IContainer'/);
    expect(errors.join('\n')).toMatch(/typoPod: .*'"?nodeSelectr"?' does not exist in type 'IPodSpec'/);
    expect(errors.join('\n')).toMatch(/wrongType: .*null/);
  }, 60_000);

  it('kustomization.yaml lists every manifest, one namespace, the images compose builds', () => {
    expect(kustomization.apiVersion).toBe('kustomize.config.k8s.io/v1beta1');
    expect(kustomization.kind).toBe('Kustomization');
    // The stack is the top folder; each subfolder is an optional Component listing its own files.
    expect([...kustomization.resources].sort()).toEqual(files.filter((f) => !f.includes('/') && f !== KUSTOMIZATION).sort());
    const folders = [...new Set(files.filter((f) => f.includes('/')).map((f) => dirname(f)))];
    for (const folder of folders) {
      const component = readYaml(join(folder, KUSTOMIZATION));
      expect([component.apiVersion, component.kind], folder).toEqual(['kustomize.config.k8s.io/v1alpha1', 'Component']);
      const own = documents.filter((m) => dirname(m.file) === folder).map((m) => basename(m.file));
      expect([...component.resources].sort(), folder).toEqual([...new Set(own)].sort());
    }
    const namespaces = objects('Namespace');
    expect(namespaces.map((n) => n.metadata.name)).toEqual([kustomization.namespace]);
    // Image names as docker-compose.yml builds them, the tag set in one place.
    const compose: Doc = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true });
    const composeImages = new Map<string, string>(
      Object.values(compose.services).flatMap((s: Doc) => (s.image ? [s.image.split(':') as [string, string]] : [])),
    );
    const used = new Set(workloads().flatMap((w) => allContainers(w).map((c) => c.image)));
    expect([...used].sort()).toEqual([...composeImages.keys()].sort());
    for (const image of kustomization.images) expect(image.newTag, image.name).toBe(composeImages.get(image.name));
    expect(kustomization.images.map((i: Doc) => i.name).sort()).toEqual([...used].sort());
    for (const r of kustomization.replicas) named('Deployment', r.name);
  });
});

describe('deploy/kubernetes: the stack', () => {
  it('runs the compose services with entry points that exist', () => {
    const deployments = objects('Deployment').map((d) => d.metadata.name).sort();
    expect(deployments).toEqual(['stt-cpu-ws', 'stt-front', 'stt-gpu-ws', 'stt-proxy', 'stt-tiny-ws']);
    for (const w of workloads()) {
      for (const c of podSpec(w).containers) {
        const entry = (c.command ?? []).find((a: string) => a.endsWith('.ts'));
        if (entry) expect(existsSync(join(root, entry)), `${w.metadata.name}: ${entry}`).toBe(true);
      }
    }
  });

  it('puts the CPU pool behind a headless Service that selects only its pods', () => {
    const headless = named('Service', 'stt-cpu-ws-headless');
    expect(headless.spec.clusterIP).toBe('None');
    expect(headless.spec.publishNotReadyAddresses ?? false).toBe(false);
    const selected = objects('Deployment').filter((d) => matches(headless.spec.selector, d.spec.template.metadata.labels));
    expect(selected.map((d) => d.metadata.name)).toEqual(['stt-cpu-ws']);
    const cpu = podSpec(selected[0]).containers[0];
    expect(headless.spec.ports.map((p: Doc) => p.port)).toEqual([8001]);
    expect(cpu.ports.find((p: Doc) => p.name === headless.spec.ports[0].targetPort || p.containerPort === headless.spec.ports[0].targetPort).containerPort).toBe(8001);
    expect(resolvedEnv(cpu, 'PORT')).toBe('8001');
  });

  it('every Service selects exactly one Deployment and targets a port its containers open', () => {
    for (const service of objects('Service')) {
      const selected = objects('Deployment').filter((d) => matches(service.spec.selector, d.spec.template.metadata.labels));
      expect(selected, service.metadata.name).toHaveLength(1);
      const ports = podSpec(selected[0]).containers.flatMap((c: Doc) => c.ports ?? []);
      for (const p of service.spec.ports) {
        expect(ports.some((cp: Doc) => cp.name === p.targetPort || cp.containerPort === p.targetPort), `${service.metadata.name}:${p.targetPort}`).toBe(true);
      }
    }
  });

  it('the proxy discovers the pools by the headless names; every service takes keys from an optional Secret', () => {
    const proxy = podSpec(named('Deployment', 'stt-proxy')).containers[0];
    const ns = kustomization.namespace;
    const target = (name: string) => {
      const url = new URL(resolvedEnv(proxy, name)!);
      const [serviceName, namespace, ...rest] = url.hostname.split('.');
      expect(namespace, name).toBe(ns);
      expect(rest.join('.'), name).toBe('svc.cluster.local');
      return { service: named('Service', serviceName ?? ''), port: Number(url.port) };
    };
    const cpu = target('STT_CPU_URL');
    expect(cpu.service.metadata.name).toBe('stt-cpu-ws-headless');
    expect(cpu.service.spec.clusterIP).toBe('None');
    expect(cpu.service.spec.ports.map((p: Doc) => p.port)).toContain(cpu.port);
    const gpu = target('STT_GPU_URL');
    expect(gpu.service.spec.clusterIP).toBe('None');
    expect(matches(gpu.service.spec.selector, named('Deployment', 'stt-gpu-ws').spec.template.metadata.labels)).toBe(true);
    expect(gpu.service.spec.ports.map((p: Doc) => p.port)).toContain(gpu.port);
    const detect = target('STT_DETECT_URL');
    expect(matches(detect.service.spec.selector, named('Deployment', 'stt-tiny-ws').spec.template.metadata.labels)).toBe(true);
    // The namespace comes from the pod, so the URLs hold in any namespace.
    expect(env(proxy, 'POD_NAMESPACE').valueFrom.fieldRef.fieldPath).toBe('metadata.namespace');
    expect(env(proxy, 'STT_CPU_URL').value).toContain('$(POD_NAMESPACE)');
    expect(proxy.env.findIndex((e: Doc) => e.name === 'POD_NAMESPACE')).toBeLessThan(proxy.env.findIndex((e: Doc) => e.name === 'STT_CPU_URL'));
    // API keys: one optional Secret for the proxy and every backend (the proxy presents the first key).
    for (const c of [proxy, ...whisperContainers().map((w) => w.container)]) {
      expect(env(c, 'STT_API_KEYS')?.valueFrom?.secretKeyRef, c.name).toEqual({ name: 'stt-api-keys', key: 'STT_API_KEYS', optional: true });
    }
    // And nothing creates that Secret: keys are the operator's.
    expect(objects('Secret')).toEqual([]);
  });

  it('probes every service on /health (alive) and /ready (model loaded and warm)', () => {
    const services = objects('Deployment').filter((d) => d.metadata.name !== 'stt-front');
    expect(services).toHaveLength(4);
    for (const d of services) {
      const c = podSpec(d).containers[0];
      const port = c.ports[0];
      for (const [probe, path] of [['livenessProbe', '/health'], ['readinessProbe', '/ready']] as const) {
        expect(c[probe]?.httpGet?.path, `${d.metadata.name} ${probe}`).toBe(path);
        expect([port.name, port.containerPort], `${d.metadata.name} ${probe}`).toContain(c[probe].httpGet.port);
      }
      if (c.startupProbe) expect(c.startupProbe.httpGet.path).toBe('/health');
    }
    const front = podSpec(named('Deployment', 'stt-front')).containers[0];
    expect(front.readinessProbe.httpGet.path).toBe('/nginx-health');
  });

  it('keeps whisper.cpp threads at or below the CPUs granted (Guaranteed QoS)', () => {
    const whisper = whisperContainers();
    expect(whisper.map((w) => w.deployment.metadata.name).sort()).toEqual(['stt-cpu-ws', 'stt-gpu-ws', 'stt-tiny-ws']);
    for (const { deployment, container } of whisper) {
      const name = deployment.metadata.name;
      const threads = Number(resolvedEnv(container, 'STT_THREADS'));
      expect(Number.isInteger(threads) && threads >= 1, `${name}: STT_THREADS ${threads}`).toBe(true);
      const { requests, limits } = container.resources;
      expect(cpus(limits.cpu), `${name}: cpu limit`).toBe(cpus(requests.cpu));
      expect(String(limits.memory), `${name}: memory limit`).toBe(String(requests.memory));
      expect(threads, `${name}: threads <= cpu limit`).toBeLessThanOrEqual(cpus(limits.cpu));
      // Whole CPUs, equal to the threads: nothing granted is left idle, nothing spins past the quota.
      expect(cpus(limits.cpu), name).toBe(threads);
    }
    expect(cpus('1500m')).toBe(1.5);
    expect(() => cpus('two')).toThrow();
  });

  it('requests an NVIDIA GPU for stt-gpu-ws and schedules it on GPU nodes', () => {
    const gpu = named('Deployment', 'stt-gpu-ws');
    const c = podSpec(gpu).containers[0];
    expect(Number(c.resources.limits['nvidia.com/gpu'])).toBeGreaterThanOrEqual(1);
    expect(c.resources.requests['nvidia.com/gpu']).toEqual(c.resources.limits['nvidia.com/gpu']);
    expect(resolvedEnv(c, 'STT_DEVICE')).toBe('gpu');
    expect(c.image).toBe('vtuber-stt-gpu');
    const selector = podSpec(gpu).nodeSelector;
    expect(Object.keys(selector).some((k) => k.startsWith('nvidia.com/'))).toBe(true);
    expect(podSpec(gpu).tolerations.some((t: Doc) => t.key === 'nvidia.com/gpu')).toBe(true);
    // No other workload asks for a GPU.
    for (const w of workloads().filter((w) => w !== gpu)) {
      for (const c2 of allContainers(w)) expect(c2.resources?.limits?.['nvidia.com/gpu'], w.metadata.name).toBeUndefined();
    }
  });

  it('fills the models volume with a Job and mounts it read-only in every whisper service', () => {
    const job = named('Job', 'stt-models');
    const pvcName = (w: Doc) => podSpec(w).volumes.find((v: Doc) => v.persistentVolumeClaim)?.persistentVolumeClaim.claimName;
    const claim = named('PersistentVolumeClaim', pvcName(job));
    const pull = podSpec(job).containers[0];
    const command = expandedCommand(pull);
    expect(command.slice(0, 5)).toEqual(['npm', 'run', 'models', '--', 'pull']);
    expect(command).toEqual(expect.arrayContaining(['base', 'tiny']));
    const mountOf = (c: Doc, w: Doc) => {
      const volume = podSpec(w).volumes.find((v: Doc) => v.persistentVolumeClaim?.claimName === claim.metadata.name);
      expect(volume, w.metadata.name).toBeDefined();
      return c.volumeMounts.find((m: Doc) => m.name === volume.name);
    };
    const jobMount = mountOf(pull, job);
    expect(jobMount.readOnly ?? false).toBe(false);
    expect(jobMount.mountPath).toBe(resolvedEnv(pull, 'STT_MODEL_DIR'));
    for (const { deployment, container } of whisperContainers()) {
      const m = mountOf(container, deployment);
      expect(m.readOnly, deployment.metadata.name).toBe(true);
      expect(m.mountPath, deployment.metadata.name).toBe(resolvedEnv(container, 'STT_MODEL_DIR'));
      // It starts once its own model is there, and that model is one the Job pulls.
      const model = resolvedEnv(container, 'STT_MODEL') ?? resolvedEnv(container, 'STT_TINY_MODEL');
      expect(command, deployment.metadata.name).toContain(model);
      const wait = podSpec(deployment).initContainers?.[0];
      expect(wait?.command.join(' '), deployment.metadata.name).toContain('/models/ggml-');
      expect(mountOf(wait, deployment).readOnly).toBe(true);
    }
  });

  it('fronts the stack with nginx and an Ingress whose WebSocket timeouts last hours', () => {
    const front = podSpec(named('Deployment', 'stt-front')).containers[0];
    expect(front.image).toBe('vtuber-stt-nginx');
    for (const [variable, deployment] of [['PROXY_UPSTREAM', 'stt-proxy'], ['DETECT_UPSTREAM', 'stt-tiny-ws']] as const) {
      const [host, port] = resolvedEnv(front, variable)!.split(':');
      const service = named('Service', host ?? '');
      expect(matches(service.spec.selector, named('Deployment', deployment).spec.template.metadata.labels), variable).toBe(true);
      expect(service.spec.ports.map((p: Doc) => p.port)).toContain(Number(port));
    }
    const template = readFileSync(join(root, 'nginx', 'nginx.conf.template'), 'utf8');
    for (const location of ['/ws/transcribe', '/ws/events', '/ws/detect', '/v1/realtime']) expect(template).toContain(`location = ${location}`);
    const ingress = objects('Ingress')[0];
    const annotations = ingress.metadata.annotations;
    for (const key of ['proxy-read-timeout', 'proxy-send-timeout']) {
      expect(Number(annotations[`nginx.ingress.kubernetes.io/${key}`]), key).toBeGreaterThanOrEqual(3600);
    }
    // HTTPS at the Ingress, from the Secret docs/deployment.md ("TLS") says how to make.
    expect(ingress.spec.tls).toEqual([{ secretName: 'stt-tls' }]);
    const backend = ingress.spec.rules[0].http.paths[0].backend.service;
    expect(backend.name).toBe('stt-front');
    expect(named('Service', 'stt-front').spec.ports.map((p: Doc) => p.name)).toContain(backend.port.name);
  });

  it('every ConfigMap reference names a key that exists', () => {
    for (const w of workloads()) {
      for (const c of allContainers(w)) {
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.configMapKeyRef;
          if (ref) expect(named('ConfigMap', ref.name).data, `${w.metadata.name}/${c.name}: ${e.name}`).toHaveProperty([ref.key]);
        }
      }
    }
  });
});

describe('deploy/kubernetes: autoscaling', () => {
  /** Kubernetes quantities as numbers: "700m", "0.7", 1. */
  const quantity = (q: unknown) => (/m$/.test(String(q)) ? Number(String(q).slice(0, -1)) / 1000 : Number(q));
  const exported = createMetrics('k8s-test').registry;
  const hpa = () => named('HorizontalPodAutoscaler', 'stt-cpu-ws');
  const pool = () => named('Service', 'stt-cpu-ws-headless');
  /** A Component's patches as JSON patch operations on a target. */
  const removesReplicas = (folder: string, deployment: string) =>
    readYaml(join(folder, KUSTOMIZATION)).patches.some(
      (p: Doc) => p.target?.kind === 'Deployment' && p.target?.name === deployment && (parse(p.patch) as Doc[]).some((op) => op.op === 'remove' && op.path === '/spec/replicas'),
    );

  it('an HPA scales the CPU pool on the busy ratio the pods export, Prometheus scrapes and prometheus-adapter serves', () => {
    const { spec } = hpa();
    expect(spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'stt-cpu-ws' });
    const deployment = named('Deployment', spec.scaleTargetRef.name);
    expect(matches(pool().spec.selector, deployment.spec.template.metadata.labels)).toBe(true);
    expect(spec.metrics).toHaveLength(1);
    const [metric] = spec.metrics;
    expect(metric.type).toBe('Pods');
    const name = metric.pods.metric.name;
    expect(exported.getSingleMetric(name)?.constructor.name, `${name} on /metrics`).toBe('Gauge');
    // Scale out before admission refuses anyone: the target is under STT_MAX_BUSY.
    expect(metric.pods.target.type).toBe('AverageValue');
    const target = quantity(metric.pods.target.averageValue);
    expect(target).toBeGreaterThan(0.3);
    expect(target).toBeLessThan(DEFAULT_CAPACITY.maxBusy);
    expect(spec.minReplicas).toBeGreaterThanOrEqual(1);
    expect(spec.maxReplicas).toBeGreaterThan(spec.minReplicas);
    // Scaling in moves sessions: it waits far longer than scaling out.
    expect(spec.behavior.scaleDown.stabilizationWindowSeconds).toBeGreaterThanOrEqual(300);
    expect(spec.behavior.scaleUp.stabilizationWindowSeconds).toBeLessThan(spec.behavior.scaleDown.stabilizationWindowSeconds);
    // Prometheus's kubernetes-pods job scrapes the pods where /metrics is.
    const container = podSpec(deployment).containers[0];
    const annotations = deployment.spec.template.metadata.annotations;
    expect(annotations['prometheus.io/scrape']).toBe('true');
    expect(annotations['prometheus.io/path']).toBe('/metrics');
    expect(annotations['prometheus.io/port']).toBe(resolvedEnv(container, 'PORT'));
    expect(container.ports.map((p: Doc) => String(p.containerPort))).toContain(annotations['prometheus.io/port']);
    // prometheus-adapter serves that name per pod, from the series the scrape labels with namespace and pod.
    const rules: Doc[] = readYaml('autoscaling/prometheus-adapter-values.yaml').rules.custom;
    const rule = rules.find((r) => (r.name?.as ?? r.name?.matches) === name);
    expect(rule, `an adapter rule serving ${name}`).toBeDefined();
    expect(rule.seriesQuery).toMatch(new RegExp(`^${name}\\{`));
    expect(rule.resources.overrides).toEqual({ namespace: { resource: 'namespace' }, pod: { resource: 'pod' } });
    for (const r of rules) expect(exported.getSingleMetric(/^(\w+)/.exec(r.seriesQuery)![1]!), r.seriesQuery).toBeDefined();
    // The autoscaler owns the replica count: a later apply does not set it back.
    expect(removesReplicas('autoscaling', 'stt-cpu-ws')).toBe(true);
  });

  it('the KEDA alternative scales the same pool by the same rule', () => {
    const scaled = customResources.filter((m) => m.doc.kind === 'ScaledObject').map((m) => m.doc);
    expect(scaled).toHaveLength(1);
    const so = scaled[0];
    const { spec } = hpa();
    // KEDA's CRD has no schema here: its fields are held to the ones KEDA documents.
    expect(Object.keys(so).sort()).toEqual(['apiVersion', 'kind', 'metadata', 'spec']);
    const known = ['scaleTargetRef', 'pollingInterval', 'cooldownPeriod', 'initialCooldownPeriod', 'idleReplicaCount', 'minReplicaCount', 'maxReplicaCount', 'fallback', 'advanced', 'triggers'];
    expect(Object.keys(so.spec).filter((k) => !known.includes(k))).toEqual([]);
    expect(so.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(so.spec.scaleTargetRef).toEqual(spec.scaleTargetRef);
    expect([so.spec.minReplicaCount, so.spec.maxReplicaCount]).toEqual([spec.minReplicas, spec.maxReplicas]);
    // The HPA KEDA makes behaves as ours (whose schema validated above).
    expect(Object.keys(so.spec.advanced)).toEqual(['horizontalPodAutoscalerConfig']);
    expect(so.spec.advanced.horizontalPodAutoscalerConfig.behavior).toEqual(spec.behavior);
    expect(so.spec.triggers).toHaveLength(1);
    const [trigger] = so.spec.triggers;
    expect(trigger.type).toBe('prometheus');
    expect(new URL(trigger.metadata.serverAddress).protocol).toBe('http:');
    // KEDA divides the query's value by the threshold: the pool's sum over the HPA's per-pod average.
    const name = spec.metrics[0].pods.metric.name;
    expect(trigger.metadata.query).toMatch(new RegExp(`^sum\\(${name}\\{`));
    expect(trigger.metadata.query).toContain(`namespace="${kustomization.namespace}"`);
    expect(trigger.metadata.query).toContain(`pod=~"${spec.scaleTargetRef.name}-.*"`);
    expect(typeof trigger.metadata.threshold).toBe('string');
    expect(Number(trigger.metadata.threshold)).toBe(quantity(spec.metrics[0].pods.target.averageValue));
    expect(removesReplicas('keda', 'stt-cpu-ws')).toBe(true);
  });

  it('deploy/kubernetes-autoscaled is the stack plus the HPA component', () => {
    const overlay: Doc = parse(readFileSync(join(root, 'deploy', 'kubernetes-autoscaled', KUSTOMIZATION), 'utf8'));
    expect([overlay.apiVersion, overlay.kind]).toEqual(['kustomize.config.k8s.io/v1beta1', 'Kustomization']);
    expect(overlay.namespace).toBe(kustomization.namespace);
    expect(overlay.resources).toEqual(['../kubernetes']);
    expect(overlay.components).toEqual(['../kubernetes/autoscaling']);
    for (const c of ['autoscaling', 'keda']) expect(existsSync(join(dir, c, KUSTOMIZATION)), c).toBe(true);
  });
});
