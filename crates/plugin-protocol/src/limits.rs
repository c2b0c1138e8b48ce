//! How long each string and list a plugin sends may be.
//!
//! A message is already bounded as a whole ([`crate::MAX_MESSAGE_BYTES`]), but that leaves room
//! for 4 KB instance names or 10,000 tags on one instance, and a host copies every instance
//! several times (inventory, caches, rendered answers) before anyone reads it. So each field has
//! its own bound, as the clouds themselves have (DigitalOcean and EC2 names are at most 255 and
//! 256 characters):
//!
//! - **Identifiers and references** (ids, slugs, regions, instance types, images, tags, names,
//!   addresses) are refused past their bound: a cut id names another thing, a cut tag breaks the
//!   exactly-once lookup by tag. The answer is an [`Malformed`] naming the field, which the host
//!   turns into a 502 `provider_bad_response` for that call.
//! - **Free text** (display names, descriptions, status words, assumptions) is cut, ending in `…`:
//!   it is only ever shown.
//! - **Lists** inside a message (tags, regions of a type, catalogue lists) are refused past their
//!   bound.
//!
//! Nothing here reads decimals or times: `convert` does. `docs/plugins.md` lists every bound.

use crate::convert::Malformed;
use crate::wire;

type Read<T> = Result<T, Malformed>;

/// Ids, slugs, and references to regions, instance types and images, in bytes.
pub const MAX_ID_BYTES: usize = 255;
/// An instance's name, in characters (EC2's `Name` tag may be 256).
pub const MAX_NAME_CHARS: usize = 256;
/// One tag, in characters (an EC2 `key:value` pair is at most 128 + 1 + 256).
pub const MAX_TAG_CHARS: usize = 512;
/// Tags on one instance.
pub const MAX_TAGS: usize = 256;
/// Short words: features, capabilities, a currency, in bytes.
pub const MAX_WORD_BYTES: usize = 64;
/// An IP address as text, in bytes (IPv6 with a zone fits).
pub const MAX_ADDRESS_BYTES: usize = 64;
/// Short lists: features, capabilities, assumptions.
pub const MAX_SHORT_LIST: usize = 64;
/// Regions in a list, or named by one instance type or image.
pub const MAX_REGIONS: usize = 1_000;
/// Instance types or images in one list, or instance types one region offers.
pub const MAX_CATALOGUE: usize = 10_000;
/// Status words and kinds (`provider_status`, an action's `kind`), cut past this many characters.
pub const CUT_WORD_CHARS: usize = 64;
/// Display names, versions, region and image names, cut past this many characters.
pub const CUT_NAME_CHARS: usize = 256;
/// Descriptions and assumptions, cut past this many characters.
pub const CUT_TEXT_CHARS: usize = 1024;

/// One resource document (a volume, a firewall with its rules...), in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Resource documents in one page of `ListResources`.
pub const MAX_RESOURCES_PER_PAGE: usize = 1_000;
/// Resources of one kind in one list.
pub const MAX_LIST_RESOURCES: usize = 500_000;
/// Documents in a `DocumentList` (a VPC's members, a price list).
pub const MAX_DOCUMENTS: usize = 10_000;

fn refused(field: &'static str, message: String) -> Malformed {
    Malformed { field, message }
}

fn bytes(value: &str, field: &'static str, max: usize) -> Read<()> {
    if value.len() > max {
        return Err(refused(field, format!("is {} bytes long; at most {max}", value.len())));
    }
    Ok(())
}

fn chars(value: &str, field: &'static str, max: usize) -> Read<()> {
    // Counting stops past the bound: a huge value costs no more than a long one.
    if value.len() > max && value.chars().nth(max).is_some() {
        return Err(refused(field, format!("is longer than {max} characters")));
    }
    Ok(())
}

fn id(value: &str, field: &'static str) -> Read<()> {
    bytes(value, field, MAX_ID_BYTES)
}

fn ids(values: &[String], field: &'static str, max_count: usize) -> Read<()> {
    count(values, field, max_count)?;
    values.iter().try_for_each(|v| id(v, field))
}

fn words(values: &[String], field: &'static str) -> Read<()> {
    count(values, field, MAX_SHORT_LIST)?;
    values.iter().try_for_each(|v| bytes(v, field, MAX_WORD_BYTES))
}

/// Refuses a list of more than `max` items.
pub fn count<T>(values: &[T], field: &'static str, max: usize) -> Read<()> {
    if values.len() > max {
        return Err(refused(field, format!("holds {} items; at most {max}", values.len())));
    }
    Ok(())
}

/// `text` cut to at most `max` characters, the last of them `…` when it was cut.
pub fn cut(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((end, _)) if text[end..].chars().nth(1).is_some() => format!("{}…", &text[..end]),
        _ => text,
    }
}

fn cut_all(texts: Vec<String>, max: usize) -> Vec<String> {
    texts.into_iter().map(|t| cut(t, max)).collect()
}

/// An instance within bounds: references and names refused past theirs, its status word cut.
pub fn instance(mut i: wire::Instance) -> Read<wire::Instance> {
    id(&i.id, "instance.id")?;
    chars(&i.name, "instance.name", MAX_NAME_CHARS)?;
    id(&i.instance_type, "instance.instance_type")?;
    id(&i.region, "instance.region")?;
    id(&i.image, "instance.image")?;
    for (address, field) in [
        (&i.public_ipv4, "instance.public_ipv4"),
        (&i.private_ipv4, "instance.private_ipv4"),
        (&i.public_ipv6, "instance.public_ipv6"),
    ] {
        if let Some(address) = address {
            bytes(address, field, MAX_ADDRESS_BYTES)?;
        }
    }
    count(&i.tags, "instance.tags", MAX_TAGS)?;
    i.tags.iter().try_for_each(|t| chars(t, "instance.tags", MAX_TAG_CHARS))?;
    words(&i.features, "instance.features")?;
    i.provider_status = cut(i.provider_status, CUT_WORD_CHARS);
    Ok(i)
}

/// An action within bounds: its ids refused past theirs, its kind cut.
pub fn action(mut a: wire::Action) -> Read<wire::Action> {
    id(&a.id, "action.id")?;
    if let Some(instance) = &a.instance_id {
        id(instance, "action.instance_id")?;
    }
    a.kind = cut(a.kind, CUT_WORD_CHARS);
    Ok(a)
}

/// A region within bounds.
pub fn region(mut r: wire::Region) -> Read<wire::Region> {
    id(&r.id, "region.id")?;
    words(&r.features, "region.features")?;
    ids(&r.instance_types, "region.instance_types", MAX_CATALOGUE)?;
    r.name = cut(r.name, CUT_NAME_CHARS);
    Ok(r)
}

/// An instance type within bounds (its prices are read by `convert`).
pub fn instance_type(mut t: wire::InstanceType) -> Read<wire::InstanceType> {
    id(&t.id, "instance_type.id")?;
    bytes(&t.currency, "instance_type.currency", MAX_WORD_BYTES)?;
    ids(&t.regions, "instance_type.regions", MAX_REGIONS)?;
    if t.regional_prices.len() > MAX_REGIONS {
        return Err(refused(
            "instance_type.regional_prices",
            format!("holds {} regions; at most {MAX_REGIONS}", t.regional_prices.len()),
        ));
    }
    t.regional_prices.keys().try_for_each(|r| id(r, "instance_type.regional_prices"))?;
    t.description = cut(t.description, CUT_TEXT_CHARS);
    Ok(t)
}

/// An image within bounds.
pub fn image(mut i: wire::Image) -> Read<wire::Image> {
    id(&i.id, "image.id")?;
    if let Some(slug) = &i.slug {
        id(slug, "image.slug")?;
    }
    ids(&i.regions, "image.regions", MAX_REGIONS)?;
    i.name = cut(i.name, CUT_NAME_CHARS);
    i.distribution = cut(i.distribution, CUT_NAME_CHARS);
    i.kind = cut(i.kind, CUT_WORD_CHARS);
    i.status = cut(i.status, CUT_WORD_CHARS);
    Ok(i)
}

/// A billing policy within bounds (its amounts are read by `convert`).
pub fn billing_policy(mut p: wire::BillingPolicy) -> Read<wire::BillingPolicy> {
    count(&p.assumptions, "billing_policy.assumptions", MAX_SHORT_LIST)?;
    p.name = cut(p.name, CUT_NAME_CHARS);
    p.assumptions = cut_all(p.assumptions, CUT_TEXT_CHARS);
    Ok(p)
}

/// What a plugin says it is, within bounds (its name is checked by `convert`).
pub fn info(mut i: wire::ProviderInfo) -> Read<wire::ProviderInfo> {
    if let Some(region) = &i.default_region {
        id(region, "default_region")?;
    }
    words(&i.capabilities, "capabilities")?;
    i.display_name = cut(i.display_name, CUT_NAME_CHARS);
    i.version = cut(i.version, CUT_WORD_CHARS);
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_is_cut_on_a_character_boundary() {
        assert_eq!(cut("short".into(), 10), "short");
        assert_eq!(cut("exactly-10".into(), 10), "exactly-10");
        assert_eq!(cut("eleven-char".into(), 10), "eleven-ch…");
        let greek = "αβγδεζηθικλ".to_owned();
        assert_eq!(cut(greek, 5), "αβγδ…");
        assert_eq!(cut("é".repeat(10), 10), "é".repeat(10), "10 characters in 20 bytes fit");
    }

    #[test]
    fn long_identifiers_names_and_lists_are_refused_naming_the_field() {
        let ok = wire::Instance { id: "1".into(), name: "web".into(), ..Default::default() };
        assert!(instance(ok.clone()).is_ok());
        let named = |i: wire::Instance| instance(i).map(|_| ()).map_err(|e| e.field);
        assert_eq!(named(wire::Instance { name: "n".repeat(4096), ..ok.clone() }), Err("instance.name"));
        assert_eq!(named(wire::Instance { name: "é".repeat(256), ..ok.clone() }), Ok(()));
        assert_eq!(named(wire::Instance { id: "1".repeat(256), ..ok.clone() }), Err("instance.id"));
        assert_eq!(named(wire::Instance { region: "r".repeat(300), ..ok.clone() }), Err("instance.region"));
        assert_eq!(named(wire::Instance { tags: vec!["t".into(); 257], ..ok.clone() }), Err("instance.tags"));
        assert_eq!(named(wire::Instance { tags: vec!["t".repeat(513)], ..ok.clone() }), Err("instance.tags"));
        assert_eq!(
            named(wire::Instance { public_ipv6: Some("f".repeat(65)), ..ok.clone() }),
            Err("instance.public_ipv6")
        );
        let status =
            instance(wire::Instance { provider_status: "s".repeat(5000), ..ok }).map(|i| i.provider_status);
        assert_eq!(status.map(|s| s.chars().count()), Ok(CUT_WORD_CHARS));
    }
}
