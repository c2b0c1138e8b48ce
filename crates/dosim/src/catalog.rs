//! The simulator's fixed catalogue: regions, sizes, public images, and the monthly prices of
//! what can outlive a droplet (volumes, snapshots, reserved IPs).
//!
//! Prices are DigitalOcean's current Basic prices (see `shared/digitalocean/README.md`), not the
//! 2020 figures in the spec's examples. Hourly prices go out the way the real API sends them:
//! `monthly / 672`, rounded, then stored as an `f32` (`0.008930000...`), so clients must round.

/// What a volume costs: $0.10 per GiB-month (secondary sources quoting DigitalOcean's volume
/// pricing page; see `spec/digitalocean/README.md`).
pub const VOLUME_CENTS_PER_GIB_MONTH: u64 = 10;
/// What a droplet or volume snapshot costs: $0.06 per GiB-month, at least $0.01 (DigitalOcean's
/// snapshot pricing page).
pub const SNAPSHOT_CENTS_PER_GIB_MONTH: u64 = 6;
/// What a reserved IPv4 address assigned to nothing costs: $5.00 per month (secondary sources
/// quoting DigitalOcean's reserved IP pricing, 2025-06). Assigned, it is free.
pub const UNASSIGNED_RESERVED_IP_CENTS_PER_MONTH: u64 = 500;

/// A data-centre region.
#[derive(Debug)]
pub struct RegionSpec {
    pub slug: &'static str,
    pub name: &'static str,
}

pub const REGIONS: &[RegionSpec] = &[
    RegionSpec { slug: "nyc1", name: "New York 1" },
    RegionSpec { slug: "nyc3", name: "New York 3" },
    RegionSpec { slug: "sfo3", name: "San Francisco 3" },
    RegionSpec { slug: "ams3", name: "Amsterdam 3" },
    RegionSpec { slug: "fra1", name: "Frankfurt 1" },
    RegionSpec { slug: "lon1", name: "London 1" },
    RegionSpec { slug: "sgp1", name: "Singapore 1" },
    RegionSpec { slug: "tor1", name: "Toronto 1" },
    RegionSpec { slug: "blr1", name: "Bangalore 1" },
    RegionSpec { slug: "syd1", name: "Sydney 1" },
];

/// The region slugs the spec's `region_slug` enum allows (more than the catalogue has: a slug
/// outside the enum is malformed, one in it but not in the catalogue is merely unavailable).
pub const SPEC_REGION_SLUGS: &[&str] = &[
    "ams1", "ams2", "ams3", "blr1", "fra1", "lon1", "nyc1", "nyc2", "nyc3", "sfo1", "sfo2", "sfo3", "sgp1",
    "tor1", "syd1",
];

pub const REGION_FEATURES: &[&str] =
    &["backups", "ipv6", "metadata", "install_agent", "storage", "image_transfer"];

/// A GPU attached to a size.
#[derive(Debug)]
pub struct GpuSpec {
    pub count: u32,
    pub model: &'static str,
    pub vram_gib: u32,
}

/// A droplet size (plan).
#[derive(Debug)]
pub struct SizeSpec {
    pub slug: &'static str,
    pub description: &'static str,
    pub vcpus: u32,
    pub memory_mb: u64,
    pub disk_gb: u64,
    pub transfer_tb: f64,
    /// Whole cents per month, so the table itself holds no float.
    pub monthly_cents: u64,
    /// Regions offering it; empty means all.
    pub only_in: &'static [&'static str],
    pub gpu: Option<GpuSpec>,
}

impl SizeSpec {
    pub fn price_monthly(&self) -> f64 {
        self.monthly_cents as f64 / 100.0
    }

    /// What `/v2/sizes` reports: monthly / 672, rounded to five places, as an `f32`.
    pub fn price_hourly(&self) -> f64 {
        let exact = self.price_monthly() / 672.0;
        let rounded = (exact * 100_000.0).round() / 100_000.0;
        rounded as f32 as f64
    }

    pub fn offered_in(&self, region: &str) -> bool {
        self.only_in.is_empty() || self.only_in.contains(&region)
    }
}

pub const SIZES: &[SizeSpec] = &[
    size("s-1vcpu-512mb-10gb", "Basic", 1, 512, 10, 0.5, 400),
    size("s-1vcpu-1gb", "Basic", 1, 1024, 25, 1.0, 600),
    size("s-1vcpu-2gb", "Basic", 1, 2048, 50, 2.0, 1200),
    size("s-2vcpu-2gb", "Basic", 2, 2048, 60, 3.0, 1800),
    size("s-2vcpu-4gb", "Basic", 2, 4096, 80, 4.0, 2400),
    size("s-4vcpu-8gb", "Basic", 4, 8192, 160, 5.0, 4800),
    size("s-8vcpu-16gb", "Basic", 8, 16384, 320, 6.0, 9600),
    size("g-2vcpu-8gb", "General Purpose", 2, 8192, 25, 4.0, 6300),
    size("c-2", "CPU-Optimized", 2, 4096, 25, 4.0, 4200),
    size("m-2vcpu-16gb", "Memory-Optimized", 2, 16384, 50, 4.0, 8400),
    SizeSpec {
        slug: "gpu-h100x1-80gb",
        description: "GPU",
        vcpus: 20,
        memory_mb: 245_760,
        disk_gb: 720,
        transfer_tb: 15.0,
        monthly_cents: 227_808,
        only_in: &["tor1", "nyc1"],
        gpu: Some(GpuSpec { count: 1, model: "nvidia_h100", vram_gib: 80 }),
    },
];

const fn size(
    slug: &'static str,
    description: &'static str,
    vcpus: u32,
    memory_mb: u64,
    disk_gb: u64,
    transfer_tb: f64,
    monthly_cents: u64,
) -> SizeSpec {
    SizeSpec {
        slug,
        description,
        vcpus,
        memory_mb,
        disk_gb,
        transfer_tb,
        monthly_cents,
        only_in: &[],
        gpu: None,
    }
}

/// A public image DigitalOcean provides.
#[derive(Debug)]
pub struct PublicImageSpec {
    pub id: u64,
    pub slug: &'static str,
    pub name: &'static str,
    pub distribution: &'static str,
    /// `distribution` or `application`, for the `type` filter of `GET /v2/images`.
    pub class: &'static str,
    pub min_disk_size: u64,
    pub size_gigabytes: f64,
}

pub const PUBLIC_IMAGES: &[PublicImageSpec] = &[
    image(160_010_001, "ubuntu-24-04-x64", "24.04 (LTS) x64", "Ubuntu", "distribution", 7, 2.44),
    image(160_010_002, "ubuntu-22-04-x64", "22.04 (LTS) x64", "Ubuntu", "distribution", 7, 2.36),
    image(160_010_003, "ubuntu-20-04-x64", "20.04 (LTS) x64", "Ubuntu", "distribution", 7, 2.36),
    image(160_010_004, "debian-12-x64", "12 x64", "Debian", "distribution", 7, 1.62),
    image(160_010_005, "debian-11-x64", "11 x64", "Debian", "distribution", 7, 1.51),
    image(160_010_006, "fedora-40-x64", "40 x64", "Fedora", "distribution", 7, 1.05),
    image(160_010_007, "fedora-39-x64", "39 x64", "Fedora", "distribution", 7, 1.02),
    image(160_010_008, "rockylinux-9-x64", "9 x64", "Rocky Linux", "distribution", 10, 1.12),
    image(160_010_009, "rockylinux-8-x64", "8 x64", "Rocky Linux", "distribution", 10, 1.30),
    image(160_010_010, "centos-stream-9-x64", "Stream 9 x64", "CentOS", "distribution", 10, 1.21),
    image(160_020_001, "docker-20-04", "Docker on Ubuntu 22.04", "Ubuntu", "application", 25, 4.62),
    image(160_020_002, "wordpress-20-04", "WordPress on Ubuntu 22.04", "Ubuntu", "application", 25, 5.01),
];

#[allow(clippy::too_many_arguments)]
const fn image(
    id: u64,
    slug: &'static str,
    name: &'static str,
    distribution: &'static str,
    class: &'static str,
    min_disk_size: u64,
    size_gigabytes: f64,
) -> PublicImageSpec {
    PublicImageSpec { id, slug, name, distribution, class, min_disk_size, size_gigabytes }
}

pub fn region(slug: &str) -> Option<&'static RegionSpec> {
    REGIONS.iter().find(|r| r.slug == slug)
}

pub fn size_by_slug(slug: &str) -> Option<&'static SizeSpec> {
    SIZES.iter().find(|s| s.slug == slug)
}

pub fn sizes_in(region: &str) -> Vec<&'static str> {
    SIZES.iter().filter(|s| s.offered_in(region)).map(|s| s.slug).collect()
}

pub fn region_slugs() -> Vec<&'static str> {
    REGIONS.iter().map(|r| r.slug).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hourly_prices_are_monthly_over_672_as_f32() {
        let s = size_by_slug("s-1vcpu-1gb").expect("in catalogue");
        assert_eq!(s.price_monthly(), 6.0);
        // 6 / 672 = 0.0089285..., rounded to 0.00893, then widened from f32.
        assert!((s.price_hourly() - 0.00893).abs() < 1e-9);
        assert_ne!(s.price_hourly(), 0.00893, "the f32 artefact must survive");
    }
}
