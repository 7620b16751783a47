// Turns flow.ts into build/flow.js without checking it again (`tsc --noEmit` did).
import fs from "node:fs";
import ts from "typescript";

const source = fs.readFileSync("flow.ts", "utf8");
const { outputText, diagnostics } = ts.transpileModule(source, {
  compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
  reportDiagnostics: true,
});
if (diagnostics?.length) {
  console.error(ts.formatDiagnostics(diagnostics, ts.createCompilerHost({})));
  process.exit(1);
}
fs.mkdirSync("build", { recursive: true });
fs.writeFileSync("build/flow.js", outputText);
