// Checks the committed JSON Schemas with ajv (draft 2020-12, strict mode),
// a validator independent of the Go one, against the corpus the Go tests
// use: files under valid/ and loader-only/ must be valid (the loader is
// stricter than any schema on the latter), files under invalid/ must not
// be. The example configurations must be valid against their schemas.
//
//   npm ci && node check.mjs        (from schema/ajv)
import { readFileSync, readdirSync } from "node:fs";
import { join, dirname, extname } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { parse as parseYAML } from "yaml";
import { parse as parseTOML } from "smol-toml";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");

function compile(path) {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  return ajv.compile(JSON.parse(readFileSync(path, "utf8")));
}

// parse reads a configuration file as the Go loader does: an empty YAML
// document is an empty mapping; dates become strings, as JSON has none.
function parse(path) {
  const text = readFileSync(path, "utf8");
  switch (extname(path)) {
    case ".json":
      return JSON.parse(text);
    case ".toml":
      return plain(parseTOML(text));
    default: {
      const doc = parseYAML(text);
      return doc === null || doc === undefined ? {} : plain(doc);
    }
  }
}

function plain(v) {
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

// verdict returns null when the file is valid, else the reason.
function verdict(validate, path) {
  let doc;
  try {
    doc = parse(path);
  } catch (e) {
    return `does not parse: ${e.message.split("\n")[0]}`;
  }
  if (validate(doc)) return null;
  return validate.errors.map((e) => `${e.instancePath || "/"} ${e.message}`).join("; ");
}

let failures = 0;
const counts = {};
function expect(validate, path, wantValid, label) {
  const why = verdict(validate, path);
  const ok = (why === null) === wantValid;
  counts[label] = (counts[label] || 0) + 1;
  if (!ok) {
    failures++;
    console.log(`FAIL ${path}: expected ${wantValid ? "valid" : "invalid"}, ajv says ${why === null ? "valid" : why}`);
  }
}

const gracekit = compile(join(repo, "schema", "gracekit.schema.json"));
const corpus = join(repo, "schema", "testdata", "corpus");
for (const [dir, wantValid] of [["valid", true], ["invalid", false], ["loader-only", true]]) {
  for (const name of readdirSync(join(corpus, dir)).sort()) {
    expect(gracekit, join(corpus, dir, name), wantValid, dir);
  }
}
expect(gracekit, join(repo, "examples", "config", "default.yaml"), true, "examples");
const app = compile(join(repo, "examples", "config", "app.schema.json"));
expect(app, join(repo, "examples", "config", "app.yaml"), true, "examples");
expect(app, join(repo, "examples", "config", "app.default.yaml"), true, "examples");

const summary = Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(", ");
if (failures > 0) {
  console.log(`ajv: ${failures} disagreements (${summary})`);
  process.exit(1);
}
console.log(`ajv: all files as expected (${summary})`);
