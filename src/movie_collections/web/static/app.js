// The single-page client: hash routes, one view at a time, every call through the public API.
import { ApiError, createApi, session } from "./api.js";
import { clear, field, fill, genreChips, genreList, h, uniqueId } from "./dom.js";
import { shareCard, sharedView } from "./sharing.js";
import { transferCard } from "./transfer.js";

const PICKED_KEY = "movie-collections.picked";
const TARGET_KEY = "movie-collections.pick-target";
// A share link opened before logging in: where to go once logged in.
const RETURN_KEY = "movie-collections.return-to";
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
let nextToast = null;
// A selector for what gets keyboard focus once the next view has loaded (else its heading).
let focusAfterRender = null;

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
  // The collection being picked for ({uuid, title}), or null: picking for a new one.
  target: null,
  load() {
    try {
      const stored = JSON.parse(sessionStorage.getItem(PICKED_KEY) || "[]");
      this.movies = new Map(stored.map((movie) => [movie.uuid, movie]));
      this.target = JSON.parse(sessionStorage.getItem(TARGET_KEY) || "null");
    } catch {
      this.movies = new Map();
      this.target = null;
    }
  },
  pickFor(target) {
    this.target = target ? { uuid: target.uuid, title: target.title || "Untitled" } : null;
    if (this.target) sessionStorage.setItem(TARGET_KEY, JSON.stringify(this.target));
    else sessionStorage.removeItem(TARGET_KEY);
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
  /** The picks went somewhere (or the session ended): start afresh, for a new collection. */
  reset() {
    this.clear();
    this.pickFor(null);
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
  picked.reset();
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

/**
 * A toast belongs to the view that raised it: `generation` is that view's (a request that
 * finishes after the user moved on says nothing), and navigating away hides it.
 */
function showToast(message, generation = renderGeneration) {
  if (generation !== renderGeneration) return;
  clearTimeout(toastTimer);
  toast.textContent = message;
  toast.classList.add("visible");
  toastTimer = setTimeout(hideToast, 4000);
}

function hideToast() {
  clearTimeout(toastTimer);
  toast.classList.remove("visible");
  toast.textContent = "";
}

/** A toast for the view the action leads to (shown once that view is drawn). */
function toastOnNextView(message) {
  nextToast = message;
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
      // A button no longer in the page belongs to a view the user has left.
      else if (button.isConnected) showToast(error.message);
    }
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = label;
  }
}

/**
 * A danger button that asks first: `question`, then `confirmLabel` runs `action` (errors
 * shown under it) and Cancel goes back, focus following. Returns the zone to place.
 */
function confirmedAction({ label, question, confirmLabel, action }) {
  const area = messageArea();
  const zone = h("div", { className: "danger-zone" });
  function draw(confirming) {
    if (!confirming) {
      const start = h("button", { type: "button", className: "button button-danger", on: { click: () => draw(true) } }, label);
      fill(zone, start, area);
      return start;
    }
    const confirmButton = h("button", { type: "button", className: "button button-danger" }, confirmLabel);
    confirmButton.addEventListener("click", async () => {
      const done = await withButton(confirmButton, area, async () => {
        await action();
        return true;
      });
      if (done && confirmButton.isConnected) draw(false).focus();
    });
    const cancel = h("button", { type: "button", className: "button", on: { click: () => draw(false).focus() } }, "Cancel");
    fill(zone, h("p", { className: "danger-text" }, question), h("div", { className: "row" }, confirmButton, cancel), area);
    confirmButton.focus();
    return confirmButton;
  }
  draw(false);
  return zone;
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

// What the views in other modules (sharing.js, transfer.js) use of this one.
const ui = {
  api,
  countOf,
  errorBox,
  heading,
  isCurrent: (generation) => generation === renderGeneration,
  loadingBlock,
  messageArea,
  showError,
  showToast,
  toastOnNextView,
  withButton,
};

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
              toastOnNextView(registering ? `Welcome, ${name}!` : `Logged in as ${name}.`);
              const returnTo = sessionStorage.getItem(RETURN_KEY);
              sessionStorage.removeItem(RETURN_KEY);
              location.hash = returnTo || "#/catalogue";
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

/** "1 movie", "3 movies". */
function countOf(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/**
 * The picks, and what to do with them: create a collection, or add them to the one being
 * picked for. On phones it folds into a bar fixed to the bottom of the screen with the
 * running count (which opens the list and the form) and the action.
 */
function pickedPanel(onChange) {
  const bodyId = uniqueId("picked-body");
  const panelTitle = h("h2", { id: "picked-title", className: "panel-title" });
  const toggle = h("button", {
    type: "button",
    className: "button picked-toggle phone-only",
    attrs: { "aria-expanded": "false", "aria-controls": bodyId },
  });
  const barAction = h("button", { type: "button", className: "button button-primary picked-bar-action phone-only" });
  const addButton = h("button", { type: "button", className: "button button-primary picked-add" });
  const area = messageArea();
  const body = h("div", { className: "picked-body", id: bodyId });
  const create = createCollectionForm({ compact: true });
  const panel = h(
    "aside",
    { className: "card picked", attrs: { "aria-labelledby": "picked-title" } },
    h("div", { className: "picked-bar" }, panelTitle, toggle, barAction),
    area,
    body,
  );
  let open = false;

  function setOpen(value) {
    open = value;
    panel.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", String(open));
  }

  async function addToTarget(button) {
    const target = picked.target;
    const movies = picked.list();
    await withButton(
      button,
      area,
      async () => {
        const answer = await api.addMovies(target.uuid, movies);
        const added = movies.length - (answer?.already_present?.length ?? 0);
        picked.reset();
        toastOnNextView(`${countOf(added, "movie")} added to ${target.title}.`);
        location.hash = `#/collections/${encodeURIComponent(target.uuid)}`;
      },
      "Adding…",
    );
  }

  function changed() {
    draw();
    onChange();
  }

  function quietButton(label, change) {
    const click = () => {
      change();
      changed();
    };
    return h("button", { type: "button", className: "button button-quiet", on: { click } }, label);
  }

  function pickList(movies) {
    return h(
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
                  changed();
                },
              },
            },
            "×",
          ),
        ),
      ),
    );
  }

  function draw() {
    const movies = picked.list();
    const target = picked.target;
    if (movies.length === 0 && !target) setOpen(false);
    panelTitle.textContent = `Picked movies (${movies.length})`;
    fill(toggle, `${movies.length} picked `, h("span", { attrs: { "aria-hidden": "true" } }, open ? "▾" : "▴"));
    const action = target ? `Add to ${target.title}` : "Create collection";
    barAction.textContent = action;
    // Open for a new collection, the form below is the action.
    barAction.hidden = open && !target;
    addButton.textContent = action;
    addButton.disabled = barAction.disabled = Boolean(target) && movies.length === 0;
    panel.classList.toggle("empty", movies.length === 0 && !target);
    create.update();
    fill(
      body,
      target ? h("p", { className: "notice" }, `Picking movies for ${target.title}.`) : null,
      movies.length === 0
        ? h(
            "p",
            { className: "muted small" },
            target ? "Pick movies while browsing, then add them." : "Pick movies while browsing, then make a collection of them.",
          )
        : pickList(movies),
      target ? addButton : create.form,
      h(
        "div",
        { className: "row" },
        target ? quietButton("Make a new collection instead", () => picked.pickFor(null)) : null,
        movies.length ? quietButton("Clear picks", () => picked.clear()) : null,
      ),
    );
  }

  toggle.addEventListener("click", () => {
    setOpen(!open);
    draw();
  });
  barAction.addEventListener("click", () => {
    if (picked.target) {
      addToTarget(barAction);
      return;
    }
    setOpen(true);
    draw();
    create.title.focus();
  });
  addButton.addEventListener("click", () => addToTarget(addButton));
  panel.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !open) return;
    setOpen(false);
    draw();
    toggle.focus();
  });
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
  const submit = h("button", { type: "submit", className: "button button-primary" });
  function update() {
    const count = picked.list().length;
    submit.textContent = count ? `Create collection with ${countOf(count, "movie")}` : "Create empty collection";
  }
  update();
  const form = h(
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
              picked.reset();
              toastOnNextView("Collection created.");
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
  return { form, title: title.input, update };
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

const COLLECTIONS_PER_PAGE = 10;
const SORTS = [
  ["-created", "Newest first"],
  ["created", "Oldest first"],
  ["title", "Title, A to Z"],
  ["-updated", "Recently changed"],
];
const DEFAULT_SORT = SORTS[0][0];
// Keyset cursors only lead forward: the cursor of each page seen, per sort and search, is
// kept so that Previous can go back.
const pageCursors = new Map();

function collectionsLink({ q = "", sort = DEFAULT_SORT, page = 1, cursor = null }) {
  const params = new URLSearchParams();
  if (q) params.set("q", q);
  if (sort !== DEFAULT_SORT) params.set("sort", sort);
  if (page > 1 && cursor) {
    params.set("page", String(page));
    params.set("cursor", cursor);
  }
  const query = params.toString();
  return `#/collections${query ? `?${query}` : ""}`;
}

/** Search by title and the sort order; either change starts again at the first page. */
function collectionsToolbar(q, sort) {
  const search = field({ label: "Search titles", name: "q", type: "search", value: q, maxlength: 200 });
  const sortId = uniqueId("sort");
  const order = h(
    "select",
    { id: sortId, name: "sort" },
    SORTS.map(([value, label]) => h("option", { value, selected: value === sort }, label)),
  );
  const go = (focus) => {
    focusAfterRender = focus;
    location.hash = collectionsLink({ q: search.input.value.trim(), sort: order.value });
  };
  order.addEventListener("change", () => go(".toolbar select"));
  return h(
    "form",
    {
      className: "card toolbar",
      noValidate: true,
      attrs: { role: "search", "aria-label": "My collections" },
      on: {
        submit: (event) => {
          event.preventDefault();
          go(".collections-summary");
        },
      },
    },
    search.field,
    h("div", { className: "field" }, h("label", { htmlFor: sortId }, "Sort by"), order),
    h("button", { type: "submit", className: "button" }, "Search"),
  );
}

function collectionsSummary({ shown, count, first, q }) {
  const matching = q ? ` matching “${q}”` : "";
  if (shown === 0 && count > 0) return "No more collections on this page.";
  if (shown === 0) return q ? `No collections match “${q}”.` : "You have no collections yet.";
  if (shown === count) return `${countOf(count, "collection")}${matching}.`;
  return `Showing ${first}–${first + shown - 1} of ${countOf(count, "collection")}${matching}.`;
}

function collectionsPager({ q, sort, page, trail, nextCursor }) {
  const link = (target, label, rel) =>
    target ? h("a", { className: "button", href: target, attrs: { rel } }, label) : null;
  let previous = null;
  if (page === 2) previous = link(collectionsLink({ q, sort }), "← Previous", "prev");
  else if (page > 2 && trail[page - 2]) {
    previous = link(collectionsLink({ q, sort, page: page - 1, cursor: trail[page - 2] }), "← Previous", "prev");
  } else if (page > 2) previous = link(collectionsLink({ q, sort }), "← First page", "first");
  const next = nextCursor ? link(collectionsLink({ q, sort, page: page + 1, cursor: nextCursor }), "Next →", "next") : null;
  if (!previous && !next) return null;
  return h("nav", { className: "pagination", attrs: { "aria-label": "Collection pages" } }, previous ?? h("span"), next);
}

async function collectionsView(params, generation) {
  const q = (params.get("q") || "").trim();
  const sort = SORTS.some(([value]) => value === params.get("sort")) ? params.get("sort") : DEFAULT_SORT;
  const cursor = params.get("cursor");
  const page = cursor ? Math.max(2, Number.parseInt(params.get("page") || "2", 10) || 2) : 1;
  const focusTarget = focusAfterRender;
  focusAfterRender = null;
  const trailKey = JSON.stringify([sort, q]);
  const trail = pageCursors.get(trailKey) ?? [null];
  trail[page - 1] = cursor;
  pageCursors.set(trailKey, trail);

  const favouritesSlot = h("div");
  const body = h("div", {}, loadingBlock("Loading your collections…"));
  const view = h(
    "section",
    {},
    h("div", { className: "view-head" }, heading("My collections")),
    favouritesSlot,
    collectionsToolbar(q, sort),
    body,
  );
  async function load() {
    try {
      const query = { limit: COLLECTIONS_PER_PAGE, sort };
      if (q) query.q = q;
      if (cursor) query.cursor = cursor;
      const answer = await api.collections(query);
      if (generation !== renderGeneration) return;
      const { collections = [], favourite_genres: favourites = "", count = 0, next = null } = answer.data || {};
      const nextCursor = next ? new URL(next, location.origin).searchParams.get("cursor") : null;
      const first = (page - 1) * COLLECTIONS_PER_PAGE + 1;
      const genres = genreList(favourites);
      fill(
        favouritesSlot,
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
      );
      fill(
        body,
        h(
          "p",
          { className: "collections-summary muted", tabIndex: -1, attrs: { role: "status" } },
          collectionsSummary({ shown: collections.length, count, first, q }),
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
          : null,
        collectionsPager({ q, sort, page, trail, nextCursor }),
        h(
          "section",
          { className: "card", attrs: { "aria-labelledby": "new-title" } },
          h("h2", { id: "new-title", className: "panel-title" }, "New collection"),
          picked.list().length
            ? h("p", { className: "muted small" }, `It will hold the ${picked.list().length} movies you picked.`)
            : h("p", { className: "muted small" }, h("a", { href: "#/catalogue" }, "Browse the catalogue"), " to pick movies for it, or add them later."),
          createCollectionForm().form,
        ),
        transferCard(ui, () => {
          if (location.hash === "#/collections") render();
          else location.hash = "#/collections";
        }),
      );
      if (focusTarget) main.querySelector(focusTarget)?.focus();
    } catch (error) {
      if (generation !== renderGeneration || error.sessionEnded) return;
      const box = errorBox(error, { retry: () => load() });
      // A cursor the service refuses (an edited address) leads nowhere: offer page one.
      if (error.status === 400 && cursor) box.append(h("a", { href: collectionsLink({ q, sort }) }, "Go to the first page"));
      fill(body, box);
    }
  }
  load();
  return view;
}

async function collectionView(id, generation) {
  const view = h("section", {}, loadingBlock("Loading the collection…"));
  let collection;

  // Saving redraws the view; `focusAfter` names what keyboard focus returns to afterwards.
  function save(changes, button, area, message, focusAfter) {
    return apply(() => api.updateCollection(id, changes), button, area, message, focusAfter);
  }

  /** `send` makes the change and answers the collection as it is now. */
  async function apply(send, button, area, message, focusAfter) {
    return withButton(
      button,
      area,
      async () => {
        collection = await send();
        showToast(message, generation);
        draw();
        view.querySelector(focusAfter)?.focus();
        return collection;
      },
      "Saving…",
    );
  }

  function inRow(movie, selector) {
    return `li[data-uuid="${CSS.escape(movie.uuid)}"] ${selector}`;
  }

  /** A movie of the list: its note, moving it up or down (focus follows it), removing it. */
  function movieRow(movie, index, area) {
    const name = movie.title || "untitled movie";
    const last = collection.movies.length - 1;
    const move = (to, className, direction, symbol) =>
      h(
        "button",
        {
          type: "button",
          className: `button button-small ${className}`,
          attrs: { "aria-label": `Move ${name} ${direction}`, "aria-disabled": to < 0 || to > last ? "true" : null },
          on: {
            click: (event) => {
              if (to < 0 || to > last) return;
              apply(
                () => api.changeMovie(id, movie.uuid, { position: to }),
                event.currentTarget,
                area,
                `${movie.title || "Untitled"} moved to position ${to + 1} of ${last + 1}.`,
                inRow(movie, `.${className}`),
              );
            },
          },
        },
        symbol,
      );
    const noteButton = h(
      "button",
      { type: "button", className: "button button-small note-button", attrs: { "aria-expanded": "false" } },
      movie.note ? "Edit note" : "Add note",
    );
    noteButton.setAttribute("aria-label", `${movie.note ? "Edit the note on" : "Add a note to"} ${name}`);
    const row = h(
      "li",
      { attrs: { "data-uuid": movie.uuid } },
      h(
        "div",
        { className: "collection-movie-text" },
        h("span", { className: "movie-title" }, movie.title || "Untitled"),
        genreList(movie.genres).length ? h("span", { className: "muted small" }, genreList(movie.genres).join(", ")) : null,
        movie.note ? h("p", { className: "movie-note" }, movie.note) : null,
      ),
      h(
        "div",
        { className: "movie-actions" },
        move(index - 1, "move-up", "up", "↑"),
        move(index + 1, "move-down", "down", "↓"),
        noteButton,
        h(
          "button",
          {
            type: "button",
            className: "button button-quiet button-small",
            attrs: { "aria-label": `Remove ${name}` },
            on: {
              click: (event) =>
                save(
                  { movies: collection.movies.filter((other) => other.uuid !== movie.uuid) },
                  event.currentTarget,
                  area,
                  "Movie removed.",
                  "#movies-title",
                ),
            },
          },
          "Remove",
        ),
      ),
    );
    noteButton.addEventListener("click", () => {
      const editor = row.querySelector(".note-editor");
      if (editor) {
        editor.remove();
        noteButton.setAttribute("aria-expanded", "false");
        return;
      }
      row.append(noteEditor(movie, noteButton, area));
      noteButton.setAttribute("aria-expanded", "true");
      row.querySelector("textarea").focus();
    });
    return row;
  }

  function noteEditor(movie, noteButton, area) {
    const note = field({
      label: `Note on ${movie.title || "this movie"}`,
      name: "note",
      value: movie.note ?? "",
      multiline: true,
      maxlength: 1000,
      hint: "Up to 1,000 characters, only for this collection. Empty removes the note.",
    });
    const saveNote = h("button", { type: "submit", className: "button button-primary" }, "Save note");
    const close = () => {
      form.remove();
      noteButton.setAttribute("aria-expanded", "false");
      noteButton.focus();
    };
    const form = h(
      "form",
      {
        className: "stack note-editor",
        noValidate: true,
        on: {
          submit: (event) => {
            event.preventDefault();
            const text = note.input.value.trim();
            apply(
              () => api.changeMovie(id, movie.uuid, { note: text || null }),
              saveNote,
              area,
              text ? "Note saved." : "Note removed.",
              inRow(movie, ".note-button"),
            );
          },
          keydown: (event) => {
            if (event.key === "Escape") close();
          },
        },
      },
      note.field,
      h(
        "div",
        { className: "row" },
        saveNote,
        h("button", { type: "button", className: "button", on: { click: close } }, "Cancel"),
      ),
    );
    return form;
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
      toAdd.length ? `Add ${countOf(toAdd.length, "picked movie")}` : "Add picked movies",
    );
    addButton.addEventListener("click", async () => {
      const updated = await save(
        { movies: [...collection.movies, ...toAdd] },
        addButton,
        moviesArea,
        `${countOf(toAdd.length, "movie")} added.`,
        "#movies-title",
      );
      if (updated) picked.reset();
    });
    if (picked.target?.uuid === collection.uuid) picked.pickFor(collection);
    const deleteZone = confirmedAction({
      label: "Delete collection",
      question: "Delete this collection and its movie list? This cannot be undone.",
      confirmLabel: "Yes, delete it",
      action: async () => {
        await api.deleteCollection(id);
        toastOnNextView("Collection deleted.");
        location.hash = "#/collections";
      },
    });

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
              "ol",
              { className: "collection-movies" },
              collection.movies.map((movie, index) => movieRow(movie, index, moviesArea)),
            )
          : h("p", { className: "muted" }, "No movies in this collection yet."),
        moviesArea,
        h(
          "div",
          { className: "row" },
          addButton,
          h(
            "a",
            { className: "button button-quiet", href: "#/catalogue", on: { click: () => picked.pickFor(collection) } },
            "Pick movies for this collection",
          ),
        ),
      ),
      share,
      h(
        "section",
        { className: "card", attrs: { "aria-labelledby": "danger-title" } },
        h("h2", { id: "danger-title", className: "panel-title" }, "Delete"),
        deleteZone,
      ),
    );
  }

  let share;

  try {
    collection = await api.collection(id);
    if (generation !== renderGeneration) return view;
    share = shareCard(ui, id, generation);
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
  const reset = confirmedAction({
    label: "Reset count",
    question: "Reset the request count to zero for everyone? This cannot be undone.",
    confirmLabel: "Yes, reset it",
    action: async () => {
      const answer = await api.resetRequestCount();
      showToast(answer?.message ? capitalise(answer.message) : "Request count reset.", generation);
      await load();
    },
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
      h("div", { className: "row" }, refreshButton),
      reset,
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
    if (route.name === "shared") sessionStorage.setItem(RETURN_KEY, location.hash);
    location.replace("#/login");
    return;
  }
  if (current && (publicRoutes.has(route.name) || route.name === "")) {
    location.replace("#/catalogue");
    return;
  }
  showChrome(current);
  hideToast();
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
      view = route.id ? await collectionView(route.id, generation) : await collectionsView(route.params, generation);
      document.title = "My collections · Movie collections";
      break;
    case "shared":
      view = await sharedView(ui, route.id, generation);
      document.title = "Shared collection · Movie collections";
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
  if (nextToast) showToast(nextToast);
  nextToast = null;
  // Move focus to the new view's heading so keyboard and screen-reader users start there.
  const title = main.querySelector(".view-title");
  (title || main).focus({ preventScroll: false });
  window.scrollTo(0, 0);
}

picked.load();
scheduleExpiry(session.read());
window.addEventListener("hashchange", render);
render();
