// The single-page client: hash routes, one view at a time, every call through the public API.
import { ApiError, createApi, session } from "./api.js";
import { clear, field, fill, genreChips, genreList, h } from "./dom.js";

const PICKED_KEY = "movie-collections.picked";
const LONG_DESCRIPTION = 240;

const main = document.getElementById("main");
const progress = document.getElementById("progress");
const toast = document.getElementById("toast");
const nav = document.getElementById("nav");
const account = document.getElementById("account");
const accountName = document.getElementById("account-name");

let expiryTimer = null;
let toastTimer = null;
// Each navigation bumps this; a view whose request finishes after the user moved on is dropped.
let renderGeneration = 0;
let pendingNotice = null;

const api = createApi({
  onUnauthorized: () => endSession("Your session has expired. Please log in again."),
  onRenewed: (renewed) => scheduleExpiry(renewed),
  onBusyChange: (busy) => {
    progress.hidden = !busy;
    main.setAttribute("aria-busy", busy ? "true" : "false");
  },
});

/* ---------- movies picked while browsing, kept for this tab ---------- */

const picked = {
  movies: new Map(),
  load() {
    try {
      const stored = JSON.parse(sessionStorage.getItem(PICKED_KEY) || "[]");
      this.movies = new Map(stored.map((movie) => [movie.uuid, movie]));
    } catch {
      this.movies = new Map();
    }
  },
  save() {
    sessionStorage.setItem(PICKED_KEY, JSON.stringify([...this.movies.values()]));
  },
  has(uuid) {
    return this.movies.has(uuid);
  },
  toggle(movie) {
    if (this.movies.has(movie.uuid)) this.movies.delete(movie.uuid);
    else this.movies.set(movie.uuid, movieFields(movie));
    this.save();
  },
  list() {
    return [...this.movies.values()];
  },
  clear() {
    this.movies.clear();
    this.save();
  },
};

function movieFields(movie) {
  return {
    title: movie.title ?? "",
    description: movie.description ?? "",
    genres: movie.genres ?? "",
    uuid: movie.uuid,
  };
}

/* ---------- session ---------- */

function startSession(username, answer) {
  const current = session.save(username, answer);
  scheduleExpiry(current);
  showChrome(current);
}

function scheduleExpiry(current) {
  clearTimeout(expiryTimer);
  if (!current?.expiresAt) return;
  // setTimeout cannot wait longer than about 24.8 days.
  const remaining = Math.min(current.expiresAt - Date.now(), 2 ** 31 - 1);
  expiryTimer = setTimeout(onAccessTokenExpired, Math.max(0, remaining));
}

/** The access token ran out: renew it with the refresh token where there is one, else end. */
async function onAccessTokenExpired() {
  if (!session.read()) return;
  const renewed = await api.renew();
  if (!renewed) endSession("Your session has expired. Please log in again.");
}

function endSession(notice) {
  clearTimeout(expiryTimer);
  session.clear();
  picked.clear();
  showChrome(null);
  pendingNotice = notice;
  if (location.hash === "#/login") render();
  else location.hash = "#/login";
}

function showChrome(current) {
  nav.hidden = !current;
  account.hidden = !current;
  accountName.textContent = current ? current.username : "";
}

document.getElementById("logout").addEventListener("click", async () => {
  await api.logout();
  endSession("You have logged out.");
});

/* ---------- small shared pieces ---------- */

function showToast(message) {
  clearTimeout(toastTimer);
  toast.textContent = message;
  toast.classList.add("visible");
  toastTimer = setTimeout(() => toast.classList.remove("visible"), 4000);
}

function heading(text, level = "h1") {
  return h(level, { className: "view-title", tabIndex: -1 }, text);
}

function errorBox(error, { retry } = {}) {
  const message = error instanceof ApiError ? error.message : "Something went wrong.";
  return h(
    "div",
    { className: "alert", attrs: { role: "alert" } },
    h("p", { className: "alert-message" }, message),
    retry
      ? h("button", { type: "button", className: "button", on: { click: retry } }, "Retry")
      : null,
  );
}

function messageArea() {
  return h("div", { className: "form-message", attrs: { "aria-live": "polite" } });
}

function showError(area, error) {
  fill(area, errorBox(error));
}

/** Run `action` with `button` disabled and labelled as busy; errors land in `area`. */
async function withButton(button, area, action, busyLabel) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  if (busyLabel) button.textContent = busyLabel;
  if (area) clear(area);
  try {
    return await action();
  } catch (error) {
    if (!error.sessionEnded) {
      if (area) showError(area, error);
      else showToast(error.message);
    }
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = label;
  }
}

function loadingBlock(text) {
  return h("p", { className: "loading" }, h("span", { className: "spinner", attrs: { "aria-hidden": "true" } }), text);
}

function pageFromLink(link) {
  if (!link) return null;
  try {
    const page = Number(new URL(link, location.origin).searchParams.get("page") || "1");
    return Number.isInteger(page) && page > 0 ? page : null;
  } catch {
    return null;
  }
}

/* ---------- views ---------- */

function authView(mode) {
  const registering = mode === "register";
  const username = field({
    label: "Username",
    name: "username",
    autocomplete: "username",
    required: true,
    hint: registering ? "3 to 150 letters, digits or _ . @ + -" : undefined,
  });
  const password = field({
    label: "Password",
    name: "password",
    type: "password",
    autocomplete: registering ? "new-password" : "current-password",
    required: true,
    hint: registering ? "At least 8 characters, and not easy to guess (a few uncommon words work well)." : undefined,
  });
  const area = messageArea();
  const submit = h("button", { type: "submit", className: "button button-primary" }, registering ? "Create account" : "Log in");
  const form = h(
    "form",
    {
      className: "stack",
      noValidate: true,
      attrs: { "aria-label": registering ? "Create an account" : "Log in" },
      on: {
        submit: async (event) => {
          event.preventDefault();
          const name = username.input.value.trim();
          const secret = password.input.value;
          if (!name || !secret) {
            showError(area, new ApiError(0, "Enter a username and a password."));
            (name ? password.input : username.input).focus();
            return;
          }
          await withButton(
            submit,
            area,
            async () => {
              const answer = registering ? await api.register(name, secret) : await api.login(name, secret);
              startSession(name, answer);
              showToast(registering ? `Welcome, ${name}!` : `Logged in as ${name}.`);
              location.hash = "#/catalogue";
            },
            registering ? "Creating account…" : "Logging in…",
          );
        },
      },
    },
    username.field,
    password.field,
    area,
    submit,
  );
  const notice = pendingNotice;
  pendingNotice = null;
  return h(
    "section",
    { className: "auth" },
    h(
      "div",
      { className: "card auth-card" },
      heading(registering ? "Create your account" : "Log in"),
      h("p", { className: "muted" }, "Browse the movie catalogue and keep your own collections."),
      notice ? h("p", { className: "notice", attrs: { role: "status" } }, notice) : null,
      form,
      h(
        "p",
        { className: "switch" },
        registering ? "Already have an account? " : "New here? ",
        h("a", { href: registering ? "#/login" : "#/register" }, registering ? "Log in" : "Create an account"),
      ),
    ),
  );
}

function pickedPanel(onChange) {
  const panel = h("aside", { className: "card picked", attrs: { "aria-labelledby": "picked-title" } });
  function draw() {
    const movies = picked.list();
    fill(panel, 
      h("h2", { id: "picked-title", className: "panel-title" }, `Picked movies (${movies.length})`),
      movies.length === 0
        ? h("p", { className: "muted small" }, "Pick movies while browsing, then make a collection of them.")
        : h(
            "ul",
            { className: "picked-list" },
            movies.map((movie) =>
              h(
                "li",
                {},
                h("span", { className: "picked-title" }, movie.title || "Untitled"),
                h(
                  "button",
                  {
                    type: "button",
                    className: "icon-button",
                    attrs: { "aria-label": `Remove ${movie.title || "untitled movie"} from the picks` },
                    on: {
                      click: () => {
                        picked.toggle(movie);
                        draw();
                        onChange();
                      },
                    },
                  },
                  "×",
                ),
              ),
            ),
          ),
      createCollectionForm({ compact: true }),
      movies.length
        ? h(
            "button",
            {
              type: "button",
              className: "button button-quiet",
              on: {
                click: () => {
                  picked.clear();
                  draw();
                  onChange();
                },
              },
            },
            "Clear picks",
          )
        : null,
    );
  }
  draw();
  return { panel, draw };
}

function createCollectionForm({ compact = false } = {}) {
  const title = field({ label: "Collection title", name: "title", required: true, maxlength: 200 });
  const description = field({
    label: "Description",
    name: "description",
    multiline: true,
    maxlength: 5000,
  });
  const area = messageArea();
  const count = picked.list().length;
  const submit = h(
    "button",
    { type: "submit", className: "button button-primary" },
    count ? `Create collection with ${count} movie${count === 1 ? "" : "s"}` : "Create empty collection",
  );
  return h(
    "form",
    {
      className: compact ? "stack create-form compact" : "stack create-form",
      noValidate: true,
      attrs: { "aria-label": "New collection" },
      on: {
        submit: async (event) => {
          event.preventDefault();
          if (!title.input.value.trim()) {
            showError(area, new ApiError(0, "Give the collection a title."));
            title.input.focus();
            return;
          }
          await withButton(
            submit,
            area,
            async () => {
              const answer = await api.createCollection({
                title: title.input.value.trim(),
                description: description.input.value,
                movies: picked.list(),
              });
              picked.clear();
              showToast("Collection created.");
              location.hash = `#/collections/${answer.collection_uuid}`;
            },
            "Creating…",
          );
        },
      },
    },
    title.field,
    description.field,
    area,
    submit,
  );
}

function movieCard(movie, onPickChange) {
  const description = movie.description || "";
  const long = description.length > LONG_DESCRIPTION;
  const text = h("p", { className: long ? "description clamped" : "description" }, description || "No description.");
  const more = long
    ? h(
        "button",
        {
          type: "button",
          className: "link-button",
          attrs: { "aria-expanded": "false" },
          on: {
            click: (event) => {
              const expanded = text.classList.toggle("clamped") === false;
              event.currentTarget.setAttribute("aria-expanded", String(expanded));
              event.currentTarget.textContent = expanded ? "Show less" : "Show more";
            },
          },
        },
        "Show more",
      )
    : null;
  const pickButton = h("button", { type: "button", className: "button pick-button" });
  function drawPick() {
    const isPicked = picked.has(movie.uuid);
    pickButton.setAttribute("aria-pressed", String(isPicked));
    pickButton.textContent = isPicked ? "Picked ✓" : "Pick";
    pickButton.setAttribute("aria-label", `${isPicked ? "Unpick" : "Pick"} ${movie.title || "untitled movie"}`);
  }
  pickButton.addEventListener("click", () => {
    picked.toggle(movie);
    drawPick();
    onPickChange();
  });
  drawPick();
  if (!movie.uuid) {
    // The catalogue sometimes omits the id; a collection cannot hold a movie without one.
    pickButton.disabled = true;
    pickButton.textContent = "No id to pick";
    pickButton.setAttribute("aria-label", `${movie.title || "Untitled"} has no id and cannot be picked`);
  }
  return {
    element: h(
      "li",
      { className: "card movie", attrs: { "data-uuid": movie.uuid } },
      h("h2", { className: "movie-title" }, movie.title || "Untitled"),
      genreChips(movie.genres),
      text,
      more,
      h("div", { className: "card-actions" }, pickButton),
    ),
    drawPick,
  };
}

async function catalogueView(page, generation) {
  const results = h("div", { className: "results", tabIndex: -1, attrs: { "aria-label": "Catalogue results" } });
  const cards = [];
  const { panel, draw } = pickedPanel(() => cards.forEach((card) => card.drawPick()));
  const view = h(
    "section",
    { className: "catalogue" },
    h(
      "div",
      { className: "view-head" },
      heading("Catalogue"),
      h("p", { className: "muted" }, "Movies from the third-party catalogue. Pick some and make a collection."),
    ),
    h("div", { className: "catalogue-layout" }, results, panel),
  );

  // `retrying`: the person pressed Retry, so focus goes back to the new Retry or the results.
  async function load(retrying = false) {
    fill(results, loadingBlock(`Loading page ${page}…`));
    try {
      const answer = await api.movies(page);
      if (generation !== renderGeneration) return;
      cards.length = 0;
      const movies = Array.isArray(answer.data) ? answer.data : [];
      const list = h("ul", { className: "movie-grid", attrs: { "aria-label": `Movies, page ${page}` } });
      for (const movie of movies) {
        const card = movieCard(movie, draw);
        cards.push(card);
        list.append(card.element);
      }
      fill(
        results,
        pagination(page, answer, movies.length, true),
        movies.length ? list : h("p", { className: "muted" }, "No movies on this page."),
        movies.length > 3 ? pagination(page, answer, movies.length) : null,
      );
      if (retrying) results.focus();
    } catch (error) {
      if (generation !== renderGeneration || error.sessionEnded) return;
      const box = errorBox(error, { retry: () => load(true) });
      if (error.isUpstreamFailure) {
        box.prepend(h("p", { className: "alert-title" }, "The movie catalogue is not answering right now."));
      }
      fill(results, box);
      if (retrying) box.querySelector("button")?.focus();
    }
  }
  load();
  return view;
}

function pagination(page, answer, pageSize, withJump = false) {
  const previousPage = pageFromLink(answer.previous);
  const nextPage = pageFromLink(answer.next);
  const count = Number(answer.count) || 0;
  const perPage = nextPage ? pageSize : Math.max(pageSize, 10);
  const pages = perPage ? Math.max(1, Math.ceil(count / perPage)) : 1;
  const link = (target, label, rel) =>
    target
      ? h("a", { className: "button", href: `#/catalogue?page=${target}`, attrs: { rel } }, label)
      : h("span", { className: "button disabled", attrs: { "aria-disabled": "true" } }, label);
  return h(
    "nav",
    { className: "pagination", attrs: { "aria-label": "Pages" } },
    link(previousPage, "← Previous", "prev"),
    h("span", { className: "page-info" }, `Page ${page} of ${pages.toLocaleString()} · ${count.toLocaleString()} movies`),
    link(nextPage, "Next →", "next"),
    withJump && pages > 1 ? jumpToPage(page, pages) : null,
  );
}

/** A page number field: thousands of pages are too many to click through. */
function jumpToPage(page, pages) {
  const number = field({ label: "Go to page", name: "page", type: "number", value: String(page) });
  number.input.min = "1";
  number.input.max = String(pages);
  number.input.inputMode = "numeric";
  return h(
    "form",
    {
      className: "jump",
      noValidate: true,
      on: {
        submit: (event) => {
          event.preventDefault();
          const target = Math.min(pages, Math.max(1, Number.parseInt(number.input.value, 10) || 1));
          location.hash = `#/catalogue?page=${target}`;
        },
      },
    },
    number.field,
    h("button", { type: "submit", className: "button" }, "Go"),
  );
}

async function collectionsView(generation) {
  const body = h("div", {}, loadingBlock("Loading your collections…"));
  const view = h(
    "section",
    {},
    h("div", { className: "view-head" }, heading("My collections")),
    body,
  );
  async function load() {
    try {
      const answer = await api.collections();
      if (generation !== renderGeneration) return;
      const { collections = [], favourite_genres: favourites = "" } = answer.data || {};
      const genres = genreList(favourites);
      fill(body, 
        h(
          "section",
          { className: "card favourites", attrs: { "aria-labelledby": "favourites-title" } },
          h("h2", { id: "favourites-title", className: "panel-title" }, "Your favourite genres"),
          genres.length
            ? h(
                "ol",
                { className: "chips favourite-genres" },
                genres.map((genre) => h("li", { className: "chip chip-strong" }, genre)),
              )
            : h("p", { className: "muted" }, "Add movies to your collections to see your favourite genres."),
        ),
        collections.length
          ? h(
              "ul",
              { className: "collection-list", attrs: { "aria-label": "Collections" } },
              collections.map((collection) =>
                h(
                  "li",
                  { className: "card collection" },
                  h(
                    "h2",
                    { className: "collection-title" },
                    h("a", { href: `#/collections/${collection.uuid}` }, collection.title || "Untitled"),
                  ),
                  collection.description ? h("p", { className: "description clamped" }, collection.description) : null,
                ),
              ),
            )
          : h("p", { className: "empty muted" }, "You have no collections yet."),
        h(
          "section",
          { className: "card", attrs: { "aria-labelledby": "new-title" } },
          h("h2", { id: "new-title", className: "panel-title" }, "New collection"),
          picked.list().length
            ? h("p", { className: "muted small" }, `It will hold the ${picked.list().length} movies you picked.`)
            : h("p", { className: "muted small" }, h("a", { href: "#/catalogue" }, "Browse the catalogue"), " to pick movies for it, or add them later."),
          createCollectionForm(),
        ),
      );
    } catch (error) {
      if (generation !== renderGeneration || error.sessionEnded) return;
      fill(body, errorBox(error, { retry: () => load() }));
    }
  }
  load();
  return view;
}

async function collectionView(id, generation) {
  const view = h("section", {}, loadingBlock("Loading the collection…"));
  let collection;

  // Saving redraws the view; `focusAfter` names what keyboard focus returns to afterwards.
  async function save(changes, button, area, message, focusAfter) {
    return withButton(
      button,
      area,
      async () => {
        collection = await api.updateCollection(id, changes);
        showToast(message);
        draw();
        view.querySelector(focusAfter)?.focus();
        return collection;
      },
      "Saving…",
    );
  }

  function draw() {
    const title = field({ label: "Title", name: "title", value: collection.title, required: true, maxlength: 200 });
    const description = field({
      label: "Description",
      name: "description",
      value: collection.description,
      multiline: true,
      maxlength: 5000,
    });
    const detailsArea = messageArea();
    const saveButton = h("button", { type: "submit", className: "button button-primary save-details" }, "Save changes");
    const moviesArea = messageArea();
    const currentIds = new Set(collection.movies.map((movie) => movie.uuid));
    const toAdd = picked.list().filter((movie) => !currentIds.has(movie.uuid));
    const addButton = h(
      "button",
      { type: "button", className: "button", disabled: toAdd.length === 0 },
      toAdd.length ? `Add ${toAdd.length} picked movie${toAdd.length === 1 ? "" : "s"}` : "Add picked movies",
    );
    addButton.addEventListener("click", async () => {
      const updated = await save(
        { movies: [...collection.movies, ...toAdd] },
        addButton,
        moviesArea,
        `${toAdd.length} movie${toAdd.length === 1 ? "" : "s"} added.`,
        "#movies-title",
      );
      if (updated) picked.clear();
    });
    const deleteArea = messageArea();
    const deleteZone = h("div", { className: "danger-zone" });
    function drawDelete(confirming) {
      if (!confirming) {
        const start = h(
          "button",
          { type: "button", className: "button button-danger", on: { click: () => drawDelete(true) } },
          "Delete collection",
        );
        fill(deleteZone, start, deleteArea);
        return start;
      }
      const confirmButton = h("button", { type: "button", className: "button button-danger" }, "Yes, delete it");
      confirmButton.addEventListener("click", () =>
        withButton(confirmButton, deleteArea, async () => {
          await api.deleteCollection(id);
          showToast("Collection deleted.");
          location.hash = "#/collections";
        }),
      );
      const cancel = h(
        "button",
        { type: "button", className: "button", on: { click: () => drawDelete(false).focus() } },
        "Cancel",
      );
      fill(deleteZone, 
        h("p", { className: "danger-text" }, "Delete this collection and its movie list? This cannot be undone."),
        h("div", { className: "row" }, confirmButton, cancel),
        deleteArea,
      );
      confirmButton.focus();
      return confirmButton;
    }
    drawDelete(false);

    fill(view, 
      h("p", { className: "crumbs" }, h("a", { href: "#/collections" }, "← My collections")),
      h("div", { className: "view-head" }, heading(collection.title || "Untitled")),
      h(
        "form",
        {
          className: "card stack",
          noValidate: true,
          attrs: { "aria-label": "Collection details" },
          on: {
            submit: (event) => {
              event.preventDefault();
              if (!title.input.value.trim()) {
                showError(detailsArea, new ApiError(0, "The title cannot be empty."));
                title.input.focus();
                return;
              }
              save(
                { title: title.input.value.trim(), description: description.input.value },
                saveButton,
                detailsArea,
                "Changes saved.",
                ".save-details",
              );
            },
          },
        },
        h("h2", { className: "panel-title" }, "Details"),
        title.field,
        description.field,
        detailsArea,
        saveButton,
      ),
      h(
        "section",
        { className: "card", attrs: { "aria-labelledby": "movies-title" } },
        h("h2", { id: "movies-title", className: "panel-title", tabIndex: -1 }, `Movies (${collection.movies.length})`),
        collection.movies.length
          ? h(
              "ul",
              { className: "collection-movies" },
              collection.movies.map((movie) =>
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
                  ),
                  h(
                    "button",
                    {
                      type: "button",
                      className: "button button-quiet",
                      attrs: { "aria-label": `Remove ${movie.title || "untitled movie"}` },
                      on: {
                        click: (event) =>
                          save(
                            { movies: collection.movies.filter((other) => other.uuid !== movie.uuid) },
                            event.currentTarget,
                            moviesArea,
                            "Movie removed.",
                            "#movies-title",
                          ),
                      },
                    },
                    "Remove",
                  ),
                ),
              ),
            )
          : h("p", { className: "muted" }, "No movies in this collection yet."),
        moviesArea,
        h(
          "div",
          { className: "row" },
          addButton,
          h("a", { className: "button button-quiet", href: "#/catalogue" }, "Pick movies in the catalogue"),
        ),
      ),
      h(
        "section",
        { className: "card", attrs: { "aria-labelledby": "danger-title" } },
        h("h2", { id: "danger-title", className: "panel-title" }, "Delete"),
        deleteZone,
      ),
    );
  }

  try {
    collection = await api.collection(id);
    if (generation !== renderGeneration) return view;
    draw();
  } catch (error) {
    if (generation === renderGeneration && !error.sessionEnded) {
      fill(view, 
        h("p", { className: "crumbs" }, h("a", { href: "#/collections" }, "← My collections")),
        heading("Collection"),
        errorBox(error, { retry: () => render() }),
      );
    }
  }
  return view;
}

async function counterView(generation) {
  const value = h("output", { className: "count", attrs: { "aria-live": "polite", "aria-label": "Requests served" } }, "…");
  const area = messageArea();
  const refreshButton = h("button", { type: "button", className: "button" }, "Refresh");
  const resetButton = h("button", { type: "button", className: "button button-danger" }, "Reset count");
  async function load(button) {
    const action = async () => {
      const answer = await api.requestCount();
      if (generation === renderGeneration) value.textContent = Number(answer.requests).toLocaleString();
    };
    if (button) await withButton(button, area, action);
    else
      await action().catch((error) => {
        if (!error.sessionEnded) showError(area, error);
      });
  }
  refreshButton.addEventListener("click", () => load(refreshButton));
  resetButton.addEventListener("click", async () => {
    await withButton(resetButton, area, async () => {
      const answer = await api.resetRequestCount();
      showToast(answer?.message ? capitalise(answer.message) : "Request count reset.");
    });
    await load();
  });
  load();
  return h(
    "section",
    {},
    h("div", { className: "view-head" }, heading("Request count")),
    h(
      "div",
      { className: "card counter" },
      h("p", { className: "muted" }, "Requests the service has served since the last reset, this one included."),
      value,
      area,
      h("div", { className: "row" }, refreshButton, resetButton),
    ),
  );
}

function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1) + (text.endsWith(".") ? "" : ".");
}

/* ---------- routing ---------- */

function parseRoute() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = hash.split("?");
  const parts = path.split("/").filter(Boolean);
  const params = new URLSearchParams(query);
  return { name: parts[0] || "", id: parts[1] ? decodeURIComponent(parts[1]) : null, params };
}

async function render() {
  renderGeneration += 1;
  const generation = renderGeneration;
  const current = session.read();
  const route = parseRoute();
  const publicRoutes = new Set(["login", "register"]);

  if (!current && !publicRoutes.has(route.name)) {
    location.replace("#/login");
    return;
  }
  if (current && (publicRoutes.has(route.name) || route.name === "")) {
    location.replace("#/catalogue");
    return;
  }
  showChrome(current);
  for (const link of nav.querySelectorAll("a")) {
    const active = link.dataset.route === route.name;
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }

  let view;
  const page = Math.max(1, Number.parseInt(route.params.get("page") || "1", 10) || 1);
  switch (route.name) {
    case "login":
    case "register":
      view = authView(route.name);
      document.title = route.name === "login" ? "Log in · Movie collections" : "Create account · Movie collections";
      break;
    case "catalogue":
      view = await catalogueView(page, generation);
      document.title = `Catalogue, page ${page} · Movie collections`;
      break;
    case "collections":
      view = route.id ? await collectionView(route.id, generation) : await collectionsView(generation);
      document.title = "My collections · Movie collections";
      break;
    case "counter":
      view = await counterView(generation);
      document.title = "Request count · Movie collections";
      break;
    default:
      view = h("section", {}, heading("Page not found"), h("p", {}, h("a", { href: "#/catalogue" }, "Go to the catalogue")));
  }
  if (generation !== renderGeneration) return;
  fill(main, view);
  // Move focus to the new view's heading so keyboard and screen-reader users start there.
  const title = main.querySelector(".view-title");
  (title || main).focus({ preventScroll: false });
  window.scrollTo(0, 0);
}

picked.load();
scheduleExpiry(session.read());
window.addEventListener("hashchange", render);
render();
