//! The typed per-kind publishers: shorthands that build an [`EventRef`] of
//! one kind, in the open block or at a given height, and call
//! [`Producer::publish`].

use slipstream_event::{EventKind, EventRef};

use super::Producer;
use crate::PublishError;

impl Producer {
    /// The open block's height, for an event of `kind` that has none.
    fn height_or_open(&self, kind: EventKind) -> Result<u64, PublishError> {
        self.block
            .map(|b| b.height)
            .ok_or(PublishError::NoOpenBlock { kind })
    }

    /// Publishes a mapping update in the open block: [`publish`](Self::publish)
    /// of an [`EventRef::MappingUpdate`] at the open block's height.
    ///
    /// # Errors
    ///
    /// [`PublishError::NoOpenBlock`] if no block is open;
    /// [`PublishError::TooLarge`] (the block is marked incomplete).
    ///
    /// ```
    /// use slipstream_producer::{Layout, Producer, ProducerOptions, PublishError};
    /// let path = std::env::temp_dir().join(format!("doc-update-{}", std::process::id()));
    /// let mut p = Producer::open(&path, ProducerOptions { layout: Layout::new(1 << 16), ..Default::default() })?;
    /// assert!(matches!(p.mapping_update(b"credits.aleo", b"account", b"k", b"v"), Err(PublishError::NoOpenBlock { .. })));
    /// p.begin_block(1)?;
    /// assert_eq!(p.mapping_update(b"credits.aleo", b"account", b"k", b"v")?, Some(2));
    /// # drop(p); std::fs::remove_file(&path)?;
    /// # slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mapping_update(
        &mut self,
        program_id: &[u8],
        mapping_name: &[u8],
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<u64>, PublishError> {
        if !self.kinds.contains(EventKind::MappingUpdate) {
            return Ok(self.switched_off());
        }
        let block_height = self.height_or_open(EventKind::MappingUpdate)?;
        self.mapping_update_at(block_height, program_id, mapping_name, key, value)
    }

    /// Publishes a staking reward in the open block: [`publish`](Self::publish)
    /// of an [`EventRef::StakingReward`] at the open block's height.
    ///
    /// # Errors
    ///
    /// As [`mapping_update`](Self::mapping_update).
    ///
    /// ```
    /// use slipstream_producer::{Layout, Producer, ProducerOptions};
    /// let path = std::env::temp_dir().join(format!("doc-reward-{}", std::process::id()));
    /// let mut p = Producer::open(&path, ProducerOptions { layout: Layout::new(1 << 16), ..Default::default() })?;
    /// p.begin_block(1)?;
    /// assert_eq!(p.staking_reward(b"aleo1staker", b"aleo1validator", 1_000, 2_000_000)?, Some(2));
    /// # drop(p); std::fs::remove_file(&path)?;
    /// # slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn staking_reward(
        &mut self,
        staker: &[u8],
        validator: &[u8],
        reward: u64,
        new_stake: u64,
    ) -> Result<Option<u64>, PublishError> {
        if !self.kinds.contains(EventKind::StakingReward) {
            return Ok(self.switched_off());
        }
        let block_height = self.height_or_open(EventKind::StakingReward)?;
        self.staking_reward_at(block_height, staker, validator, reward, new_stake)
    }

    /// Publishes a mapping update of block `block_height`:
    /// [`publish`](Self::publish) of an [`EventRef::MappingUpdate`] (opening
    /// that block if it is not the open one).
    ///
    /// # Errors
    ///
    /// As [`publish`](Self::publish): [`PublishError::HeightNotIncreasing`]
    /// if `block_height` is neither the open block's nor above the last
    /// block begun; [`PublishError::TooLarge`] (the block is marked incomplete).
    ///
    /// ```
    /// use slipstream_producer::{Layout, Producer, ProducerOptions};
    /// let path = std::env::temp_dir().join(format!("doc-update-at-{}", std::process::id()));
    /// let mut p = Producer::open(&path, ProducerOptions { layout: Layout::new(1 << 16), ..Default::default() })?;
    /// assert_eq!(p.mapping_update_at(5, b"credits.aleo", b"account", b"k", b"v")?, Some(2));
    /// assert_eq!(p.open_block(), Some(5)); // its begin marker is seq 1
    /// # drop(p); std::fs::remove_file(&path)?;
    /// # slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mapping_update_at(
        &mut self,
        block_height: u64,
        program_id: &[u8],
        mapping_name: &[u8],
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<u64>, PublishError> {
        self.publish(&EventRef::MappingUpdate {
            block_height,
            ordinal: 0,
            program_id,
            mapping_name,
            key,
            value,
        })
    }

    /// Publishes a mapping removal (`key: None`: the whole mapping) of block
    /// `block_height`: [`publish`](Self::publish) of an
    /// [`EventRef::MappingRemoval`].
    ///
    /// # Errors
    ///
    /// As [`mapping_update_at`](Self::mapping_update_at).
    ///
    /// ```
    /// use slipstream_producer::{Layout, Producer, ProducerOptions};
    /// let path = std::env::temp_dir().join(format!("doc-removal-at-{}", std::process::id()));
    /// let mut p = Producer::open(&path, ProducerOptions { layout: Layout::new(1 << 16), ..Default::default() })?;
    /// p.mapping_removal_at(5, b"credits.aleo", b"bonded", Some(b"aleo1..."))?;
    /// p.mapping_removal_at(5, b"credits.aleo", b"bonded", None)?; // the whole mapping
    /// # drop(p); std::fs::remove_file(&path)?;
    /// # slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mapping_removal_at(
        &mut self,
        block_height: u64,
        program_id: &[u8],
        mapping_name: &[u8],
        key: Option<&[u8]>,
    ) -> Result<Option<u64>, PublishError> {
        self.publish(&EventRef::MappingRemoval {
            block_height,
            ordinal: 0,
            program_id,
            mapping_name,
            key,
        })
    }

    /// Publishes a staking reward of block `block_height`:
    /// [`publish`](Self::publish) of an [`EventRef::StakingReward`].
    ///
    /// # Errors
    ///
    /// As [`mapping_update_at`](Self::mapping_update_at).
    ///
    /// ```
    /// use slipstream_producer::{Layout, Producer, ProducerOptions};
    /// let path = std::env::temp_dir().join(format!("doc-reward-at-{}", std::process::id()));
    /// let mut p = Producer::open(&path, ProducerOptions { layout: Layout::new(1 << 16), ..Default::default() })?;
    /// p.staking_reward_at(5, b"aleo1staker", b"aleo1validator", 1_000, 2_000_000)?;
    /// # drop(p); std::fs::remove_file(&path)?;
    /// # slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn staking_reward_at(
        &mut self,
        block_height: u64,
        staker: &[u8],
        validator: &[u8],
        reward: u64,
        new_stake: u64,
    ) -> Result<Option<u64>, PublishError> {
        self.publish(&EventRef::StakingReward {
            block_height,
            ordinal: 0,
            staker,
            validator,
            reward,
            new_stake,
        })
    }

    /// Publishes a finalized block (its bytes as the node encodes them) of
    /// block `block_height`: [`publish`](Self::publish) of an [`EventRef::Block`].
    ///
    /// # Errors
    ///
    /// As [`mapping_update_at`](Self::mapping_update_at).
    ///
    /// ```
    /// use slipstream_producer::{Layout, Producer, ProducerOptions};
    /// let path = std::env::temp_dir().join(format!("doc-block-at-{}", std::process::id()));
    /// let mut p = Producer::open(&path, ProducerOptions { layout: Layout::new(1 << 16), ..Default::default() })?;
    /// p.block_at(5, b"the block as the node encodes it")?;
    /// # drop(p); std::fs::remove_file(&path)?;
    /// # slipstream_ring::sidecar::remove_all(&path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn block_at(
        &mut self,
        block_height: u64,
        block: &[u8],
    ) -> Result<Option<u64>, PublishError> {
        self.publish(&EventRef::Block {
            block_height,
            ordinal: 0,
            block,
        })
    }
}
