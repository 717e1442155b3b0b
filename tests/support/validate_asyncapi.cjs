// Validates an AsyncAPI document with the AsyncAPI project's own parser (@asyncapi/parser, in .tools/).
// Usage: node tests/support/validate_asyncapi.cjs PARSER_DIR FILE. Prints the diagnostics as JSON lines;
// exits 1 when the document has errors (severity 0) or does not parse, 0 otherwise.
const path = require("path");
const [parserDir, file] = process.argv.slice(2);
const { Parser, fromFile } = require(path.resolve(parserDir));

(async () => {
  const parser = new Parser();
  const { document, diagnostics } = await fromFile(parser, path.resolve(file)).parse();
  for (const d of diagnostics) {
    console.log(JSON.stringify({ severity: d.severity, code: d.code, message: d.message, path: d.path }));
  }
  const errors = diagnostics.filter((d) => d.severity === 0);
  if (!document || errors.length) process.exit(1);
  console.log(JSON.stringify({ ok: true, channels: document.channels().all().map((c) => c.address()) }));
})().catch((error) => {
  console.log(JSON.stringify({ severity: 0, message: String(error) }));
  process.exit(1);
});
