// Share links: the owner's card on a collection's page, and the read-only page a link opens.
import { field, fill, genreList, h } from "./dom.js";

/** The client's address for a share token (the API's own path is JSON). */
function linkOf(token) {
  return `${location.origin}/#/shared/${encodeURIComponent(token)}`;
}

/** The owner's "Share" card: create a link, copy it, stop sharing. */
export function shareCard(ui, id, generation) {
  const { api } = ui;
  const area = ui.messageArea();
  const body = h("div", { className: "stack" }, ui.loadingBlock("Checking the share link…"));
  const card = h(
    "section",
    { className: "card share", attrs: { "aria-labelledby": "share-title" } },
    h("h2", { id: "share-title", className: "panel-title" }, "Share"),
    body,
    area,
  );

  function notShared(focus) {
    const create = h("button", { type: "button", className: "button" }, "Create share link");
    create.addEventListener("click", () =>
      ui.withButton(
        create,
        area,
        async () => {
          const answer = await api.share(id);
          ui.showToast("Share link created.", generation);
          shared(answer.data.token, true);
        },
        "Creating…",
      ),
    );
    fill(
      body,
      h(
        "p",
        { className: "muted" },
        "Only you can see this collection. A share link lets anyone signed in read it and save a copy of it; nobody else can change it.",
      ),
      create,
    );
    if (focus) create.focus();
  }

  function shared(token, focus) {
    const link = field({ label: "Share link", name: "share-link", value: linkOf(token) });
    link.input.readOnly = true;
    link.input.addEventListener("focus", () => link.input.select());
    const copy = h("button", { type: "button", className: "button button-primary" }, "Copy link");
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(link.input.value);
        ui.showToast("Link copied.", generation);
      } catch {
        // No clipboard permission: leave the link selected for the keyboard shortcut.
        link.input.focus();
        ui.showToast("Press Ctrl+C (⌘C) to copy the selected link.", generation);
      }
    });
    const stop = h("button", { type: "button", className: "button button-danger" }, "Stop sharing");
    stop.addEventListener("click", () =>
      ui.withButton(
        stop,
        area,
        async () => {
          await api.unshare(id);
          ui.showToast("Sharing stopped: the link no longer works.", generation);
          notShared(true);
        },
        "Stopping…",
      ),
    );
    fill(
      body,
      h("p", { className: "muted" }, "Anyone signed in who has this link can read this collection and save a copy of it."),
      link.field,
      h("div", { className: "row" }, copy, h("a", { className: "button button-quiet", href: linkOf(token) }, "Open the shared page"), stop),
    );
    if (focus) link.input.focus();
  }

  api.shareLink(id).then(
    (answer) => shared(answer.data.token, false),
    (error) => {
      if (error.status === 404) notShared(false);
      else if (!error.sessionEnded) fill(body, ui.errorBox(error));
    },
  );
  return card;
}

/** The page a share link opens: the collection, read-only, and "Save a copy". */
export async function sharedView(ui, token, generation) {
  const { api } = ui;
  const view = h("section", {}, ui.loadingBlock("Loading the shared collection…"));
  try {
    const collection = await api.shared(token);
    if (!ui.isCurrent(generation)) return view;
    const movies = Array.isArray(collection.movies) ? collection.movies : [];
    const area = ui.messageArea();
    const save = h("button", { type: "button", className: "button button-primary" }, "Save a copy");
    save.addEventListener("click", () =>
      ui.withButton(
        save,
        area,
        async () => {
          const answer = await api.copyShared(token);
          ui.toastOnNextView(`Saved a copy of ${collection.title || "the collection"} to your collections.`);
          location.hash = `#/collections/${encodeURIComponent(answer.collection_uuid)}`;
        },
        "Saving…",
      ),
    );
    fill(
      view,
      h(
        "div",
        { className: "view-head" },
        ui.heading(collection.title || "Untitled"),
        h("p", { className: "muted" }, `Shared by ${collection.owner} · read-only`),
        collection.description ? h("p", { className: "description shared-description" }, collection.description) : null,
        h("div", { className: "row" }, save, h("span", { className: "muted small" }, "Keep your own copy, to change as you like.")),
        area,
      ),
      h(
        "section",
        { className: "card", attrs: { "aria-labelledby": "shared-movies-title" } },
        h("h2", { id: "shared-movies-title", className: "panel-title" }, `Movies (${movies.length})`),
        movies.length
          ? h(
              "ol",
              { className: "collection-movies" },
              movies.map((movie) =>
                h(
                  "li",
                  { attrs: { "data-uuid": movie.uuid } },
                  h(
                    "div",
                    { className: "collection-movie-text" },
                    h("span", { className: "movie-title" }, movie.title || "Untitled"),
                    genreList(movie.genres).length
                      ? h("span", { className: "muted small" }, genreList(movie.genres).join(", "))
                      : null,
                    movie.note ? h("p", { className: "movie-note" }, movie.note) : null,
                  ),
                ),
              ),
            )
          : h("p", { className: "muted" }, "No movies in this collection."),
      ),
    );
  } catch (error) {
    if (ui.isCurrent(generation) && !error.sessionEnded) {
      const box = ui.errorBox(error);
      if (error.status === 404) {
        box.prepend(h("p", { className: "alert-title" }, "This share link does not work: it was turned off, or it is mistyped."));
      }
      fill(view, ui.heading("Shared collection"), box, h("p", {}, h("a", { href: "#/collections" }, "Go to my collections")));
    }
  }
  return view;
}
