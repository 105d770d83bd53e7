// The grammar on the shipped policies (../../policies): every file ends
// with the tokenizer back at the top level (no block left open), comments
// are comments, item keywords are keywords, table separators are
// separators, and the rhai of every calc body and every `= { … }` block
// is scoped as embedded rhai.
const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const root = path.join(__dirname, "..", "..", "..", "policies");
const grammarPath = path.join(__dirname, "..", "syntaxes", "wangge.tmLanguage.json");

function files(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p) : p.endsWith(".wg") ? [p] : [];
  });
}

async function main() {
  const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm")).buffer;
  await oniguruma.loadWASM(wasm);
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (s) => new oniguruma.OnigScanner(s),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async () =>
      vsctm.parseRawGrammar(fs.readFileSync(grammarPath, "utf8"), grammarPath),
  });
  const grammar = await registry.loadGrammar("source.wangge");
  const failures = [];
  let checked = 0;
  for (const file of files(root)) {
    const name = path.relative(root, file);
    const lines = fs.readFileSync(file, "utf8").split("\n");
    let stack = vsctm.INITIAL;
    let inCalc = false;
    lines.forEach((line, n) => {
      const r = grammar.tokenizeLine(line, stack);
      const at = (i) => {
        const t = r.tokens.find((t) => t.startIndex <= i && i < t.endIndex);
        return t ? t.scopes : [];
      };
      const has = (i, scope) => at(i).some((s) => s.startsWith(scope));
      const fail = (what) => failures.push(`${name}:${n + 1}: ${what}\n    ${line}`);
      const trimmed = line.trimStart();
      const first = line.length - trimmed.length;
      if (trimmed.startsWith("//") && !has(first, "comment")) fail("a comment line is not a comment");
      const item = /^(policy|ladder|role|grant|schema|party|param|table|rules|calc|calendar|workflow|subsidy|points|scorecard|award|task|intake|scenario)\b/.exec(line);
      if (item && !has(0, "keyword.other.item")) fail(`\`${item[1]}\` is not an item keyword`);
      if (trimmed.startsWith("|") && !has(first, "punctuation.separator")) fail("a table's `|` is not a separator");
      if (inCalc && trimmed && !trimmed.startsWith("}") && !has(first, "meta.embedded.block.rhai")) fail("a calc body line is not rhai");
      const block = line.indexOf("= {");
      if (block >= 0 && line.length > block + 3 && !has(block + 3, "meta.embedded.block.rhai")) fail("`= { … }` is not rhai");
      if (/^calc\b.*\{\s*$/.test(line)) inCalc = true;
      if (line.startsWith("}")) inCalc = false;
      stack = r.ruleStack;
      checked++;
    });
    if (stack.depth !== 1) failures.push(`${name}: a block is still open at the end of the file`);
  }
  if (failures.length) {
    console.error(failures.join("\n"));
    process.exit(1);
  }
  console.log(`shipped policies: ${checked} lines tokenized as expected`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
