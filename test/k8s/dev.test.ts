/**
 * The kind + skaffold developer loop, as far as it can be checked without kind: skaffold.yaml,
 * k8s/kind.yaml and the dev manifests parse and reference files that exist, the dev values point
 * the chart at the dev services, and the dev manifests install into the test API server.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type K8sObject, Kube, parseYamlDocs, REPO, readText, SETUP_TIMEOUT_MS, valuesFile } from "./k8s.js";

const DEV = join(REPO, "k8s", "dev");
const kustomization = parse(readText(join(DEV, "kustomization.yaml")));
const devObjects: K8sObject[] = (kustomization.resources as string[]).flatMap((file) =>
  parseYamlDocs(readText(join(DEV, file))),
);

describe("skaffold.yaml", () => {
  const skaffold = parse(readText(join(REPO, "skaffold.yaml")));

  it("builds the Dockerfile and deploys the chart with the dev values", () => {
    expect(skaffold.apiVersion).toMatch(/^skaffold\/v4/);
    const artifact = skaffold.build.artifacts[0];
    expect(existsSync(join(REPO, artifact.context, artifact.docker.dockerfile))).toBe(true);
    const release = skaffold.deploy.helm.releases[0];
    expect(existsSync(join(REPO, release.chartPath, "Chart.yaml"))).toBe(true);
    for (const file of release.valuesFiles) expect(existsSync(join(REPO, file)), file).toBe(true);
    expect(release.setValueTemplates["image.repository"]).toContain(`IMAGE_REPO_${artifact.image}`);
    for (const path of skaffold.manifests.kustomize.paths)
      expect(existsSync(join(REPO, path, "kustomization.yaml"))).toBe(true);
    expect(skaffold.deploy.kubeContext).toBe(`kind-${parse(readText(join(REPO, "k8s", "kind.yaml"))).name}`);
  });

  it("port-forwards the gateway Service the chart makes", () => {
    const forwards = skaffold.portForward as K8sObject[];
    const release = skaffold.deploy.helm.releases[0];
    expect(
      forwards.some((f) => f.resourceName === `${release.name}-gateway` && f.namespace === release.namespace),
    ).toBe(true);
  });

  it("has all-in-one and mesh profiles whose files exist", () => {
    const names = skaffold.profiles.map((p: K8sObject) => p.name);
    expect(names).toEqual(expect.arrayContaining(["all-in-one", "mesh"]));
    for (const profile of skaffold.profiles) {
      for (const patch of profile.patches ?? []) {
        for (const value of [patch.value ?? []].flat()) {
          if (typeof value === "string" && value.endsWith(".yaml"))
            expect(existsSync(join(REPO, value)), value).toBe(true);
        }
      }
    }
  });
});

describe("k8s/kind.yaml", () => {
  it("is a kind cluster config mapping the gateway's NodePort to the host", () => {
    const kind = parse(readText(join(REPO, "k8s", "kind.yaml")));
    expect(kind.apiVersion).toBe("kind.x-k8s.io/v1alpha4");
    expect(kind.kind).toBe("Cluster");
    const mappings = kind.nodes[0].extraPortMappings as K8sObject[];
    const dev = parse(readText(valuesFile("dev-kind")));
    expect(mappings.map((m) => m.containerPort)).toContain(dev.service.nodePort);
    for (const m of mappings) expect(m.listenAddress).toBe("127.0.0.1");
  });
});

describe("k8s/dev", () => {
  it("lists only files that exist, and every dependency the chart needs", () => {
    for (const file of kustomization.resources) expect(existsSync(join(DEV, file)), file).toBe(true);
    const services = devObjects.filter((o) => o.kind === "Service").map((o) => o.metadata.name);
    expect(services.sort()).toEqual(["kafka", "postgres", "redis", "s3", "scylla"]);
  });

  it("is what the dev-kind values point the chart at", () => {
    const dev = parse(readText(valuesFile("dev-kind")));
    const ns = kustomization.namespace;
    const port = (name: string) =>
      devObjects.find((o) => o.kind === "Service" && o.metadata.name === name)?.spec.ports[0].port;
    expect(dev.postgres.host).toBe(`postgres.${ns}.svc.cluster.local`);
    expect(dev.postgres.port ?? 5432).toBe(port("postgres"));
    expect(dev.kafka.brokers).toEqual([`kafka.${ns}.svc.cluster.local:${port("kafka")}`]);
    expect(dev.redis.host).toBe(`redis.${ns}.svc.cluster.local`);
    expect(dev.cql.contactPoints).toEqual([`scylla.${ns}.svc.cluster.local:${port("scylla")}`]);
    expect(dev.s3.endpoint).toBe(`http://s3.${ns}.svc.cluster.local:${port("s3")}`);
    const init = devObjects.find((o) => o.kind === "ConfigMap" && o.metadata.name === "postgres-init");
    for (const db of Object.values<string>(
      parse(readText(join(REPO, "charts", "parley", "values.yaml"))).postgres.databases,
    )) {
      expect(init?.data["init.sql"]).toContain(`CREATE DATABASE ${db};`);
    }
  });

  describe("in the test API server", () => {
    let kube: Kube;
    beforeAll(async () => {
      kube = await Kube.start();
    }, SETUP_TIMEOUT_MS);

    it("installs with kubectl apply -k, every object admitted and stored", async () => {
      const result = await kube.kubectl(["apply", "-k", DEV]);
      expect(result.code, result.stderr).toBe(0);
      const ns = kustomization.namespace;
      for (const o of devObjects.filter((x) => x.kind !== "Namespace")) {
        const got = await kube.kubectl([
          "get",
          o.kind.toLowerCase(),
          o.metadata.name,
          "-n",
          ns,
          "-o",
          "name",
        ]);
        expect(got.code, `${o.kind}/${o.metadata.name}: ${got.stderr}`).toBe(0);
      }
      const again = await kube.kubectl(["apply", "-k", DEV]);
      expect(again.stdout).not.toContain("created");
    });
  });
});
