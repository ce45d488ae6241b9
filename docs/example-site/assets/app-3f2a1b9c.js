document.getElementById("asset").textContent = "Asset app-3f2a1b9c.js loaded from the same snapshot as this page.";
