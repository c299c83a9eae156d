// Loaded in <head>, before the page paints: the theme chosen with the toggle (kept in this
// browser), else none, and the CSS follows the system's prefers-color-scheme.
"use strict";
try {
  const theme = localStorage.getItem("rag.theme");
  if (theme === "dark" || theme === "light") document.documentElement.dataset.theme = theme;
} catch (e) { /* storage blocked: follow the system */ }
