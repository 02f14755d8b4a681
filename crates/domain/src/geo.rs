//! Where a library is: a point given by latitude and longitude, kept in millionths of a degree
//! (about 0.1 m) so that it compares exactly and is stored as two integers, and the great-circle
//! distance between two points, which routing uses to prefer nearer lenders.

use serde::{Deserialize, Serialize};

/// A point on the earth, in millionths of a degree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GeoPoint {
    lat_e6: i32,
    lon_e6: i32,
}

/// Why a latitude or longitude was refused; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeoError {
    #[error("{field} {value:?} is not a number of degrees (e.g. 39.9929)")]
    NotANumber { field: &'static str, value: String },
    #[error("{field} {value} is out of range ({range})")]
    OutOfRange {
        field: &'static str,
        value: String,
        range: &'static str,
    },
    #[error("latitude and longitude go together: {missing} is missing")]
    Half { missing: &'static str },
}

impl GeoError {
    /// The field the problem is in: `latitude` or `longitude`.
    pub fn field(&self) -> &'static str {
        match self {
            GeoError::NotANumber { field, .. } | GeoError::OutOfRange { field, .. } => field,
            GeoError::Half { missing } => missing,
        }
    }

    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            GeoError::NotANumber { .. } => "invalid_coordinate",
            GeoError::OutOfRange { .. } => "out_of_range",
            GeoError::Half { .. } => "required",
        }
    }
}

const MAX_LAT_E6: i32 = 90_000_000;
const MAX_LON_E6: i32 = 180_000_000;

/// Mean radius of the earth in kilometres (IUGG).
const EARTH_RADIUS_KM: f64 = 6371.0088;

impl GeoPoint {
    /// From millionths of a degree, as stored.
    pub fn from_e6(lat_e6: i64, lon_e6: i64) -> Result<GeoPoint, GeoError> {
        let lat = i32::try_from(lat_e6)
            .ok()
            .filter(|v| v.abs() <= MAX_LAT_E6)
            .ok_or_else(|| GeoError::OutOfRange {
                field: "latitude",
                value: format!("{}", lat_e6 as f64 / 1e6),
                range: "-90 to 90",
            })?;
        let lon = i32::try_from(lon_e6)
            .ok()
            .filter(|v| v.abs() <= MAX_LON_E6)
            .ok_or_else(|| GeoError::OutOfRange {
                field: "longitude",
                value: format!("{}", lon_e6 as f64 / 1e6),
                range: "-180 to 180",
            })?;
        Ok(GeoPoint {
            lat_e6: lat,
            lon_e6: lon,
        })
    }

    /// From decimal degrees as typed (`39.9929`, `116.3059`); both empty is `None`, one of
    /// them empty is an error.
    pub fn parse(lat: &str, lon: &str) -> Result<Option<GeoPoint>, GeoError> {
        let (lat, lon) = (lat.trim(), lon.trim());
        match (lat.is_empty(), lon.is_empty()) {
            (true, true) => return Ok(None),
            (false, true) => {
                return Err(GeoError::Half {
                    missing: "longitude",
                });
            }
            (true, false) => {
                return Err(GeoError::Half {
                    missing: "latitude",
                });
            }
            (false, false) => {}
        }
        let lat_e6 = degrees_e6("latitude", lat, 90)?;
        let lon_e6 = degrees_e6("longitude", lon, 180)?;
        GeoPoint::from_e6(lat_e6, lon_e6).map(Some)
    }

    pub fn lat_e6(&self) -> i64 {
        i64::from(self.lat_e6)
    }

    pub fn lon_e6(&self) -> i64 {
        i64::from(self.lon_e6)
    }

    /// Latitude in decimal degrees as written in a partner file (`39.992900` → `39.9929`).
    pub fn latitude_text(&self) -> String {
        e6_text(self.lat_e6)
    }

    pub fn longitude_text(&self) -> String {
        e6_text(self.lon_e6)
    }

    /// Great-circle distance in whole kilometres (haversine on a sphere; within 0.5 % of the
    /// ellipsoid, which is far finer than routing needs).
    pub fn distance_km(&self, other: &GeoPoint) -> u32 {
        let rad = |e6: i32| f64::from(e6) / 1e6_f64 * std::f64::consts::PI / 180.0;
        let (la1, lo1, la2, lo2) = (
            rad(self.lat_e6),
            rad(self.lon_e6),
            rad(other.lat_e6),
            rad(other.lon_e6),
        );
        let h = ((la2 - la1) / 2.0).sin().powi(2)
            + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
        let km = 2.0 * EARTH_RADIUS_KM * h.sqrt().clamp(0.0, 1.0).asin();
        // At most half the circumference (about 20,015 km): always fits.
        km.round().clamp(0.0, 21_000.0) as u32
    }
}

/// Decimal degrees to millionths, without going through floating point: at most six decimals
/// are kept (rounded half away from zero), the rest are refused as noise only if not digits.
fn degrees_e6(field: &'static str, text: &str, max: i64) -> Result<i64, GeoError> {
    let bad = || GeoError::NotANumber {
        field,
        value: text.to_owned(),
    };
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
    if whole.is_empty() && frac.is_empty()
        || whole.len() > 3
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let mut micro: i64 = 0;
    for (i, c) in frac.chars().take(7).enumerate() {
        let d = i64::from(c.to_digit(10).unwrap_or(0));
        if i < 6 {
            micro = micro * 10 + d;
        } else if d >= 5 {
            micro += 1;
        }
    }
    for _ in frac.len().min(6)..6 {
        micro *= 10;
    }
    let e6 = whole * 1_000_000 + micro;
    if e6 > max * 1_000_000 {
        return Err(GeoError::OutOfRange {
            field,
            value: text.to_owned(),
            range: if max == 90 {
                "-90 to 90"
            } else {
                "-180 to 180"
            },
        });
    }
    Ok(if neg { -e6 } else { e6 })
}

fn e6_text(e6: i32) -> String {
    let sign = if e6 < 0 { "-" } else { "" };
    let a = e6.unsigned_abs();
    let frac = format!("{:06}", a % 1_000_000);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{sign}{}", a / 1_000_000)
    } else {
        format!("{sign}{}.{frac}", a / 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn p(lat: &str, lon: &str) -> GeoPoint {
        GeoPoint::parse(lat, lon).unwrap().unwrap()
    }

    #[test]
    fn beijing_to_shanghai_is_about_1070_km() {
        // Peking University and Fudan University.
        let pku = p("39.9929", "116.3059");
        let fudan = p("31.2984", "121.5015");
        let d = pku.distance_km(&fudan);
        assert!((1060..=1080).contains(&d), "{d}");
        assert_eq!(fudan.distance_km(&pku), d);
        assert_eq!(pku.distance_km(&pku), 0);
    }

    #[test]
    fn degrees_are_read_exactly_and_written_back() {
        let x = p("39.9929", "-116.3");
        assert_eq!((x.lat_e6(), x.lon_e6()), (39_992_900, -116_300_000));
        assert_eq!(
            (x.latitude_text(), x.longitude_text()),
            ("39.9929".into(), "-116.3".into())
        );
        assert_eq!(p("0.0000005", "1").lat_e6(), 1);
        assert_eq!(p("90", "180").lat_e6(), 90_000_000);
    }

    #[test]
    fn bad_coordinates_name_their_field() {
        let e = GeoPoint::parse("91", "10").unwrap_err();
        assert_eq!((e.field(), e.code()), ("latitude", "out_of_range"));
        let e = GeoPoint::parse("10", "east").unwrap_err();
        assert_eq!((e.field(), e.code()), ("longitude", "invalid_coordinate"));
        let e = GeoPoint::parse("10", "").unwrap_err();
        assert_eq!((e.field(), e.code()), ("longitude", "required"));
        assert_eq!(GeoPoint::parse(" ", ""), Ok(None));
        assert!(GeoPoint::parse("1e3", "1").is_err());
        assert!(GeoPoint::parse(".", "1").is_err());
    }

    proptest! {
        #[test]
        fn any_text_is_a_point_or_an_error(lat in ".{0,12}", lon in ".{0,12}") {
            if let Ok(Some(g)) = GeoPoint::parse(&lat, &lon) {
                prop_assert!(g.lat_e6().abs() <= 90_000_000 && g.lon_e6().abs() <= 180_000_000);
            }
        }

        #[test]
        fn distance_is_symmetric_and_bounded(a in -90_000_000i64..=90_000_000, b in -180_000_000i64..=180_000_000,
                                             c in -90_000_000i64..=90_000_000, d in -180_000_000i64..=180_000_000) {
            let x = GeoPoint::from_e6(a, b).unwrap();
            let y = GeoPoint::from_e6(c, d).unwrap();
            prop_assert_eq!(x.distance_km(&y), y.distance_km(&x));
            prop_assert!(x.distance_km(&y) <= 20_100);
        }
    }
}
