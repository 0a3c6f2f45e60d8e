/**
 * The chart, for real: helm lint --strict, then helm install of every shipped values file into a
 * real kube-apiserver (deps/kube.sh) that validates every object and CRD instance, in namespaces
 * that enforce the restricted Pod Security Standard; upgrade rolls checksums; uninstall leaves
 * nothing. No controller-manager, scheduler or kubelet run: objects are admitted, no pod runs.
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  CHART,
  type K8sObject,
  Kube,
  parseYamlDocs,
  renderChart,
  SETUP_TIMEOUT_MS,
  VALUES_FILES,
  valuesFile,
} from "./k8s.js";

let kube: Kube;
const RESTRICTED = {
  "pod-security.kubernetes.io/enforce": "restricted",
  "pod-security.kubernetes.io/enforce-version": "latest",
  "pod-security.kubernetes.io/warn": "restricted",
};

beforeAll(async () => {
  kube = await Kube.start();
  await kube.applyPrometheusCrds();
  // The production example puts its dashboards into "monitoring".
  const ns = await kube.kubectl(["create", "namespace", "monitoring"]);
  if (ns.code !== 0) expect(ns.stderr).toContain("AlreadyExists");
}, SETUP_TIMEOUT_MS);

/** Every object a release may leave in a namespace, by name ("kind/name"). */
async function leftovers(namespace: string): Promise<string[]> {
  const kinds =
    "deployments,services,configmaps,secrets,serviceaccounts,pods,persistentvolumeclaims," +
    "poddisruptionbudgets,horizontalpodautoscalers,networkpolicies,ingresses,servicemonitors,prometheusrules";
  const result = await kube.kubectl(["get", kinds, "-n", namespace, "-o", "name"]);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout.split("\n").filter((line) => line && line !== "serviceaccount/default");
}

describe("helm lint", () => {
  it.each(VALUES_FILES)("passes --strict with values/%s.yaml", async (file) => {
    const result = await kube.helm(["lint", "--strict", CHART, "-f", valuesFile(file)]);
    expect(result.stdout + result.stderr).toContain("1 chart(s) linted, 0 chart(s) failed");
    expect(result.code).toBe(0);
  });
});

describe.each(VALUES_FILES)("helm install with values/%s.yaml", (file) => {
  let namespace: string;
  let manifest: K8sObject[];
  const release = `p-${file.replace(/[^a-z]/g, "")}`.slice(0, 20);

  beforeAll(async () => {
    namespace = await kube.namespace(`parley-${file}`, RESTRICTED);
  });

  it("installs: the API server admits every object (incl. ServiceMonitor and PrometheusRule)", async () => {
    const result = await kube.helm([
      "install",
      release,
      CHART,
      "-n",
      namespace,
      "-f",
      valuesFile(file),
      "--set",
      "serviceMonitor.enabled=true,prometheusRule.enabled=true,grafanaDashboards.enabled=true",
    ]);
    expect(result.stderr).not.toMatch(/PodSecurity|would violate/);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("STATUS: deployed");
    const got = await kube.helm(["get", "manifest", release, "-n", namespace]);
    manifest = parseYamlDocs(got.stdout);
    const kinds = new Set(manifest.map((o) => o.kind));
    for (const kind of [
      "Deployment",
      "Service",
      "ConfigMap",
      "NetworkPolicy",
      "PodDisruptionBudget",
      "ServiceMonitor",
      "PrometheusRule",
    ]) {
      expect(kinds.has(kind), kind).toBe(true);
    }
    // Read back from the API server: it stored what it validated.
    for (const d of manifest.filter((o) => o.kind === "Deployment")) {
      const stored = await kube.kubectl([
        "get",
        "deployment",
        d.metadata.name,
        "-n",
        namespace,
        "-o",
        "json",
      ]);
      expect(stored.code, stored.stderr).toBe(0);
      expect(JSON.parse(stored.stdout).spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    }
  });

  it("its pods (and the helm test pod) pass the restricted Pod Security Standard, judged by the API server", async () => {
    const pods: K8sObject[] = manifest
      .filter((o) => o.kind === "Deployment")
      .map((d) => ({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: `${d.metadata.name}-probe`, namespace, labels: d.spec.template.metadata.labels },
        spec: d.spec.template.spec,
      }));
    const tests = await renderChart(kube.setting("PARLEY_TEST_HELM"), {
      values: [valuesFile(file)],
      release,
      namespace,
      showOnly: "templates/tests/test-seed-walk.yaml",
    });
    pods.push(
      ...tests.objects.map((p) => ({ ...p, metadata: { ...p.metadata, namespace, annotations: {} } })),
    );
    expect(pods.length).toBeGreaterThan(1);
    for (const pod of pods) {
      const result = await kube.kubectl(
        ["create", "--dry-run=server", "-o", "name", "-f", "-"],
        JSON.stringify(pod),
      );
      expect(result.stderr, pod.metadata.name).toBe("");
      expect(result.code).toBe(0);
    }
    // The check can fail: the same pod as root is refused by the same namespace.
    const root = structuredClone(pods[0] as K8sObject);
    root.spec.securityContext = { runAsUser: 0 };
    root.spec.containers[0].securityContext = { runAsUser: 0 };
    const refused = await kube.kubectl(["create", "--dry-run=server", "-f", "-"], JSON.stringify(root));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('violates PodSecurity "restricted:latest"');
  });

  it("upgrades with a changed setting: the checksum annotations change and the pods would roll", async () => {
    const annotations = async () => {
      const got = await kube.kubectl(["get", "deployments", "-n", namespace, "-o", "json"]);
      return Object.fromEntries(
        JSON.parse(got.stdout).items.map((d: K8sObject) => [
          d.metadata.name,
          d.spec.template.metadata.annotations,
        ]),
      );
    };
    const before = await annotations();
    const result = await kube.helm([
      "upgrade",
      release,
      CHART,
      "-n",
      namespace,
      "-f",
      valuesFile(file),
      "--reuse-values",
      "--set",
      "config.PARLEY_GATEWAY_MAX_BODY_BYTES=2097152",
    ]);
    expect(result.code, result.stderr).toBe(0);
    const after = await annotations();
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    for (const name of Object.keys(before)) {
      expect(after[name]["checksum/config"], name).not.toBe(before[name]["checksum/config"]);
      // Generated secrets are kept on upgrade (lookup), so their checksum stays.
      expect(after[name]["checksum/secret"], name).toBe(before[name]["checksum/secret"]);
    }
    const cm = await kube.kubectl([
      "get",
      "configmap",
      `${release}-parley-config`,
      "-n",
      namespace,
      "-o",
      "json",
    ]);
    expect(JSON.parse(cm.stdout).data.PARLEY_GATEWAY_MAX_BODY_BYTES).toBe("2097152");
    const history = await kube.helm(["history", release, "-n", namespace, "-o", "json"]);
    expect(JSON.parse(history.stdout)).toHaveLength(2);
  });

  it("uninstalls and leaves nothing behind", async () => {
    expect((await leftovers(namespace)).length).toBeGreaterThan(5);
    const result = await kube.helm(["uninstall", release, "-n", namespace, "--wait", "--timeout", "60s"]);
    expect(result.code, result.stderr).toBe(0);
    expect(await leftovers(namespace)).toEqual([]);
    const dashboards = await kube.kubectl(["get", "configmaps", "-n", "monitoring", "-o", "name"]);
    expect(dashboards.stdout).not.toContain(release);
  });
});
