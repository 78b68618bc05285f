// Taking your data with you: download all collections as JSON or CSV, import a JSON export.
import { ApiError } from "./api.js";
import { h, uniqueId } from "./dom.js";

// Long enough for the browser to have started the download.
const RELEASE_DOWNLOAD_MS = 60_000;

/** The "Export and import" card of My collections; `onImported` shows the new list. */
export function transferCard(ui, onImported) {
  const { api } = ui;
  const area = ui.messageArea();

  function exportButton(format, label) {
    const button = h("button", { type: "button", className: "button" }, label);
    button.addEventListener("click", () =>
      ui.withButton(
        button,
        area,
        async () => {
          const { blob, filename } = await api.exportCollections(format);
          const url = URL.createObjectURL(blob);
          const link = h("a", { href: url, download: filename, hidden: true });
          document.body.append(link);
          link.click();
          link.remove();
          setTimeout(() => URL.revokeObjectURL(url), RELEASE_DOWNLOAD_MS);
        },
        "Preparing…",
      ),
    );
    return button;
  }

  const fileId = uniqueId("import-file");
  const hintId = `${fileId}-hint`;
  const file = h("input", {
    type: "file",
    id: fileId,
    name: "import-file",
    accept: ".json,application/json",
    attrs: { "aria-describedby": hintId },
  });
  const submit = h("button", { type: "submit", className: "button button-primary" }, "Import");
  const form = h(
    "form",
    {
      className: "stack",
      noValidate: true,
      attrs: { "aria-label": "Import collections" },
      on: {
        submit: async (event) => {
          event.preventDefault();
          const chosen = file.files?.[0];
          if (!chosen) {
            ui.showError(area, new ApiError(0, "Choose a JSON export file first."));
            file.focus();
            return;
          }
          await ui.withButton(
            submit,
            area,
            async () => {
              let document;
              try {
                document = JSON.parse(await chosen.text());
              } catch {
                throw new ApiError(0, `${chosen.name} is not a JSON export: it does not parse as JSON.`);
              }
              const answer = await api.importCollections(document);
              const count = answer?.collection_uuids?.length ?? 0;
              ui.toastOnNextView(`${ui.countOf(count, "collection")} imported.`);
              onImported();
            },
            "Importing…",
          );
        },
      },
    },
    h(
      "div",
      { className: "field" },
      h("label", { htmlFor: fileId }, "Collections file"),
      file,
      h("p", { className: "hint", id: hintId }, "A JSON export from this service, from this account or another. All its collections are added, or none."),
    ),
    submit,
  );

  return h(
    "section",
    { className: "card transfer", attrs: { "aria-labelledby": "transfer-title" } },
    h("h2", { id: "transfer-title", className: "panel-title" }, "Export and import"),
    h("p", { className: "muted small" }, "Download all your collections with their movies and notes."),
    h("div", { className: "row" }, exportButton("json", "Download JSON"), exportButton("csv", "Download CSV")),
    form,
    area,
  );
}
