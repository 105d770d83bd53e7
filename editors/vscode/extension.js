// The VS Code client of `wangge lsp`: starts the language server from the
// configured binary over stdio for `.wg` files.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("wangge").get("server.path") || "wangge";
  const server = { command, args: ["lsp"] };
  client = new LanguageClient(
    "wangge",
    "wangge 网格策略",
    { run: server, debug: server },
    { documentSelector: [{ scheme: "file", language: "wangge" }] }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
