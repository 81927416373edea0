//! The dashboard's static files, embedded in the binary so that the page needs no CDN and no
//! request leaves the machine. Third-party files come from npm packages (see `assets/vendor/README.md`
//! for versions and how to refresh them); their licences are embedded too and served with them.

/// One embedded file.
pub struct Asset {
    /// Name under `/assets/`.
    pub name: &'static str,
    /// MIME type.
    pub content_type: &'static str,
    /// Contents.
    pub bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:literal, $path:literal) => {
        Asset { name: $name, content_type: $type, bytes: include_bytes!(concat!("../../assets/", $path)) }
    };
}

/// The page itself.
pub const INDEX: &[u8] = include_bytes!("../../assets/dashboard/index.html");

/// Everything under `/assets/`.
pub const ASSETS: &[Asset] = &[
    asset!("app.js", "text/javascript; charset=utf-8", "dashboard/app.js"),
    asset!("app.css", "text/css; charset=utf-8", "dashboard/app.css"),
    asset!("uPlot.iife.min.js", "text/javascript; charset=utf-8", "vendor/uplot/uPlot.iife.min.js"),
    asset!("uPlot.min.css", "text/css; charset=utf-8", "vendor/uplot/uPlot.min.css"),
    asset!(
        "topojson-client.min.js",
        "text/javascript; charset=utf-8",
        "vendor/topojson-client/topojson-client.min.js"
    ),
    asset!("states-albers-10m.json", "application/json", "vendor/us-atlas/states-albers-10m.json"),
    asset!("LICENSES.txt", "text/plain; charset=utf-8", "vendor/LICENSES.txt"),
];

/// The embedded file called `name`.
pub fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.name == name)
}
