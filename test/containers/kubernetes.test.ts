import { expect, test } from "bun:test";
import { join } from "node:path";
import { hostsFor, render } from "../../deploy/kubernetes/render.ts";
import { findSelf, parseHosts } from "../../src/hosts/hosts.ts";

const file = join(import.meta.dir, "../../deploy/kubernetes/rollcall.yaml");
const defaults = { replicas: 5, namespace: "default", name: "rollcall", image: "rollcall:latest", port: 7700 };

test("the committed manifest is what render.ts produces for 5 replicas", async () => {
  expect(await Bun.file(file).text()).toBe(render(defaults));
});

test("the manifest parses and its names, selectors, ports and hosts list agree", async () => {
  // biome-ignore lint/suspicious/noExplicitAny: parsed YAML, checked field by field below
  const docs = Bun.YAML.parse(await Bun.file(file).text()) as any[];
  const byKind = Object.fromEntries(docs.map((d) => [d.kind, d]));
  const { ConfigMap: cm, Service: svc, StatefulSet: sts } = byKind;
  expect(Object.keys(byKind).sort()).toEqual(["ConfigMap", "Service", "StatefulSet"]);
  expect(svc.spec.clusterIP).toBe("None");
  expect(sts.spec.serviceName).toBe(svc.metadata.name);
  expect(sts.spec.selector.matchLabels).toEqual(svc.spec.selector);
  expect(sts.spec.template.metadata.labels).toEqual(svc.spec.selector);
  const container = sts.spec.template.spec.containers[0];
  expect(container.ports[0]).toEqual({ name: "rollcall", containerPort: 7700, protocol: "UDP" });
  expect(svc.spec.ports[0]).toMatchObject({ port: 7700, protocol: "UDP" });
  const mount = container.volumeMounts[0];
  const env = Object.fromEntries(container.env.map((e: { name: string; value: string }) => [e.name, e.value]));
  expect(env.ROLLCALL_HOSTS).toBe(`${mount.mountPath}/hosts`);
  expect(sts.spec.template.spec.volumes[0].configMap.name).toBe(cm.metadata.name);

  // The hosts file lists exactly the pods' DNS names, and every pod finds itself by its hostname.
  const hosts = parseHosts("configmap", cm.data.hosts);
  expect(hosts.entries.map((e) => `${e.host}:${e.port}`)).toEqual(hostsFor(defaults));
  for (let i = 0; i < sts.spec.replicas; i++) {
    expect(findSelf(hosts, `${sts.metadata.name}-${i}`).id).toBe(i + 1);
  }
});

test("render.ts follows the replica count and rejects bad input", () => {
  // biome-ignore lint/suspicious/noExplicitAny: parsed YAML
  const seven = Bun.YAML.parse(render({ ...defaults, replicas: 7, namespace: "demo" })) as any[];
  const hosts = parseHosts("x", seven[0].data.hosts);
  expect(hosts.entries.length).toBe(7);
  expect(hosts.entries[6]!.host).toBe("rollcall-6.rollcall.demo.svc.cluster.local");
  // Bounded like every process the tests start: a hung renderer fails here instead of at the runner's timeout.
  const bad = Bun.spawnSync(
    [process.execPath, join(import.meta.dir, "../../deploy/kubernetes/render.ts"), "--replicas", "0"],
    { stderr: "pipe", timeout: 10_000, killSignal: "SIGKILL" },
  );
  if (bad.exitedDueToTimeout) throw new Error("render.ts --replicas 0 did not exit within 10 s; killed");
  expect(bad.exitCode).toBe(2);
  expect(bad.stderr.toString()).toMatch(/--replicas must be an integer/);
});
