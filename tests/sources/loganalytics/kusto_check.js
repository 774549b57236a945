// Microsoft's Kusto language service as a long-lived checker: JSON lines over stdin/stdout.
// argv[2]: JSON file {"database": name, "tables": {table: [[column, type], ...]}}.
// Each input line {"id": n, "query": text} gets {"id": n, "diagnostics": [...], "columns": [...]}.
"use strict";
const fs = require("fs");
const path = require("path");
const readline = require("readline");

const pkg = path.join(__dirname, "..", "..", "..", "tools", "kusto", "node_modules",
  "@kusto", "language-service-next");
require(path.join(pkg, "bridge.min.js"));
require(path.join(pkg, "Kusto.Language.Bridge.min.js"));
const K = Kusto.Language;

const schema = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const tables = Object.entries(schema.tables).map(([name, columns]) =>
  new K.Symbols.TableSymbol.$ctor7(name,
    "(" + columns.map(([c, t]) => c + ":" + t).join(", ") + ")", null));
const database = new K.Symbols.DatabaseSymbol.ctor(schema.database, tables);
const globals = K.GlobalState.Default.WithDatabase(database);

function list(csharpList, map) {
  const out = [];
  for (let i = 0; i < csharpList.Count; i++) out.push(map(csharpList.getItem(i)));
  return out;
}

function check(query) {
  const code = K.KustoCode.ParseAndAnalyze(query, globals);
  const diagnostics = list(code.GetDiagnostics(), (d) => ({
    severity: String(d.Severity), code: d.Code, message: d.Message,
    start: d.Start, length: d.Length,
  }));
  const result = code.ResultType;
  const columns = result && result.Columns
    ? list(result.Columns, (c) => ({ name: c.Name, type: c.Type.Name })) : [];
  return { diagnostics, columns };
}

const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on("line", (line) => {
  let request;
  try {
    request = JSON.parse(line);
    const answer = check(request.query);
    process.stdout.write(JSON.stringify({ id: request.id, ...answer }) + "\n");
  } catch (error) {
    process.stdout.write(JSON.stringify({ id: request ? request.id : null,
      failure: String(error && error.stack || error) }) + "\n");
  }
});
process.stdout.write(JSON.stringify({ ready: true }) + "\n");
