"""The text GAN: SeqGAN's generator, discriminator, rollout, training run, presets, study and reports."""
