/**
 * The chart's PrometheusRule passes promtool (check rules + unit tests of every alert), and every
 * metric that alerts and dashboards name is exported by a running Parley (scraped from /metrics).
 */
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { startTestParley, type TestParley } from "../harness.js";
import { CHART, type K8sObject, Kube, readText, renderChart, SETUP_TIMEOUT_MS } from "./k8s.js";

let kube: Kube;
let rules: K8sObject;
const dir = mkdtempSync(join(tmpdir(), "parley-rules-"));

beforeAll(async () => {
  kube = await Kube.start();
  const rendered = await renderChart(kube.setting("PARLEY_TEST_HELM"), {
    values: [join(CHART, "values", "all-in-one.yaml")],
    set: ["prometheusRule.enabled=true"],
    namespace: "parley-test",
    release: "parley",
    showOnly: "templates/prometheusrule.yaml",
  });
  expect(rendered.code, rendered.stderr).toBe(0);
  rules = rendered.objects[0] as K8sObject;
  writeFileSync(join(dir, "rules.yaml"), stringify({ groups: rules.spec.groups }));
  writeFileSync(
    join(dir, "alerts.promtool.yaml"),
    readText(join(import.meta.dirname, "alerts.promtool.yaml")),
  );
}, SETUP_TIMEOUT_MS);

describe("alert rules", () => {
  it("pass promtool check rules", async () => {
    const result = await kube.promtool(["check", "rules", join(dir, "rules.yaml")]);
    expect(result.stdout + result.stderr).toMatch(/SUCCESS: \d+ rules found/);
    expect(result.code).toBe(0);
  });

  it("pass their unit tests (promtool test rules), one for every alert", async () => {
    const tests = readText(join(dir, "alerts.promtool.yaml"));
    const alerts = rules.spec.groups.flatMap((g: K8sObject) => g.rules).filter((r: K8sObject) => r.alert);
    expect(alerts.length).toBeGreaterThanOrEqual(7);
    for (const { alert } of alerts)
      expect(tests, `a unit test for ${alert}`).toContain(`alertname: ${alert}`);
    const result = await kube.promtool(["test", "rules", join(dir, "alerts.promtool.yaml")]);
    expect(result.stdout + result.stderr).toContain("SUCCESS");
    expect(result.code, result.stdout + result.stderr).toBe(0);
  });

  it("the unit tests can fail: a wrong expectation is reported", async () => {
    const broken = readText(join(dir, "alerts.promtool.yaml")).replace(
      "severity: critical",
      "severity: page",
    );
    writeFileSync(join(dir, "broken.promtool.yaml"), broken);
    const result = await kube.promtool(["test", "rules", join(dir, "broken.promtool.yaml")]);
    expect(result.code).not.toBe(0);
  });

  it("every alert has a runbook section in docs/operations.md", () => {
    const operations = readText(join(import.meta.dirname, "..", "..", "docs", "operations.md"));
    for (const group of rules.spec.groups) {
      for (const rule of group.rules.filter((r: K8sObject) => r.alert)) {
        const anchor = String(rule.annotations.runbook_url).split("#")[1];
        expect(anchor, rule.alert).toBe(rule.alert.toLowerCase());
        expect(operations, rule.alert).toContain(`### ${rule.alert}`);
      }
    }
  });
});

/** Metric names in PromQL text: Parley's and the Node.js process metrics prom-client exports. */
function metricNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const match of text.matchAll(/\b((?:parley|process|nodejs)_[a-z0-9_]+)\b/g)) {
    names.add((match[1] as string).replace(/_(bucket|count|sum)$/, ""));
  }
  return names;
}

describe("metric names in alerts and dashboards", () => {
  let parley: TestParley;
  let exported: Set<string>;
  beforeAll(async () => {
    parley = await startTestParley();
    const res = await fetch(`http://127.0.0.1:${parley.parley.adminPort}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] as string));
  });
  afterAll(async () => {
    await parley?.cleanup();
  });

  it("are all exported by a running Parley's /metrics", () => {
    const named = metricNames(JSON.stringify(rules.spec));
    const dashboards = join(CHART, "files", "dashboards");
    for (const file of readdirSync(dashboards)) {
      for (const name of metricNames(readText(join(dashboards, file)))) named.add(name);
    }
    expect(named.size).toBeGreaterThan(10);
    expect(exported.has("parley_rpc_duration_seconds")).toBe(true);
    const missing = [...named].filter((name) => !exported.has(name)).sort();
    expect(missing, "named in alerts/dashboards but not exported").toEqual([]);
  });
});
