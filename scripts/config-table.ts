/** Rewrites the configuration table in README.md from the code's settings (npm run docs:config). */
import { readFileSync, writeFileSync } from "node:fs";
import { configTable } from "../services/config-catalogue.js";

const BEGIN = "<!-- config:begin -->";
const END = "<!-- config:end -->";
const readme = readFileSync("README.md", "utf8");
const start = readme.indexOf(BEGIN);
const end = readme.indexOf(END);
if (start < 0 || end < start) throw new Error("README.md has no config markers");
writeFileSync(
  "README.md",
  `${readme.slice(0, start + BEGIN.length)}\n${configTable()}\n${readme.slice(end)}`,
);
