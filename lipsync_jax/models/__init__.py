"""Networks of StyleLipSync: StyleGAN2 with SaMF, encoders, MaLS, SyncNet, LPIPS."""
